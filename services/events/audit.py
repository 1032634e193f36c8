"""`record_audit`: the one way a service writes to the audit log — an outbox row in its own transaction.

The row commits or rolls back with the change it describes; the relay delivers it to `AuditService.Record`,
which appends it to the tenant's hash chain. The outbox row's id is the audit entry's id, so a redelivery is
recorded once. Who and from where (actor, IP, user agent, request id) are read from the request's
ContextVars, never passed by hand, so no call site can forget them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from geko.audit.v1 import audit_pb2
from services.events.outbox import OutboxStage, add_outbox_event, add_outbox_row
from services.runtime.clock import utcnow
from services.runtime.context import (
    current_peer_ip,
    current_principal,
    current_request_id,
    current_user_agent,
)
from services.runtime.messages import timestamp

AUDIT_TOPIC = "audit"
# Column widths of audit_logs (db/models/audit.py); request-derived values are cut to fit.
MAX_NAME_LENGTH = 64
MAX_RESOURCE_ID_LENGTH = 128
MAX_IP_LENGTH = 64
MAX_USER_AGENT_LENGTH = 512
MAX_REQUEST_ID_LENGTH = 64


class AuditAction(StrEnum):
    """Actions of issues 3, 4 and 5; later issues add theirs (Record accepts any upper snake case name)."""

    USER_REGISTERED = "USER_REGISTERED"
    USER_LOGIN = "USER_LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    TOKEN_REUSE_DETECTED = "TOKEN_REUSE_DETECTED"
    APIKEY_CREATED = "APIKEY_CREATED"
    APIKEY_REVOKED = "APIKEY_REVOKED"
    WORKSPACE_CREATED = "WORKSPACE_CREATED"
    WORKSPACE_UPDATED = "WORKSPACE_UPDATED"
    WORKSPACE_DELETED = "WORKSPACE_DELETED"
    WORKSPACE_RESTORED = "WORKSPACE_RESTORED"
    MEMBER_INVITED = "MEMBER_INVITED"
    INVITATION_ACCEPTED = "INVITATION_ACCEPTED"
    INVITATION_REVOKED = "INVITATION_REVOKED"
    INVITATION_RESENT = "INVITATION_RESENT"
    MEMBER_ROLE_CHANGED = "MEMBER_ROLE_CHANGED"
    MEMBER_REMOVED = "MEMBER_REMOVED"
    MEMBER_LEFT = "MEMBER_LEFT"
    ROLE_CREATED = "ROLE_CREATED"
    ROLE_UPDATED = "ROLE_UPDATED"
    ROLE_DELETED = "ROLE_DELETED"
    MODEL_CREATED = "MODEL_CREATED"
    MODEL_UPDATED = "MODEL_UPDATED"
    MODEL_ENABLED = "MODEL_ENABLED"
    MODEL_DISABLED = "MODEL_DISABLED"
    MODEL_SETTINGS_CHANGED = "MODEL_SETTINGS_CHANGED"
    MODEL_PRICE_CHANGED = "MODEL_PRICE_CHANGED"
    PROVIDER_CONNECTION_CREATED = "PROVIDER_CONNECTION_CREATED"
    PROVIDER_CONNECTION_UPDATED = "PROVIDER_CONNECTION_UPDATED"
    PROVIDER_CONNECTION_DELETED = "PROVIDER_CONNECTION_DELETED"
    MODEL_INSTALL_STARTED = "MODEL_INSTALL_STARTED"
    MODEL_INSTALLED = "MODEL_INSTALLED"
    MODEL_INSTALL_FAILED = "MODEL_INSTALL_FAILED"
    MODEL_REMOVED = "MODEL_REMOVED"
    CHAT_COMPLETED = "CHAT_COMPLETED"


async def record_audit(
    transaction: AsyncSession | AsyncConnection | OutboxStage,
    *,
    service: str,
    action: str,
    tenant_id: str,
    resource_type: str,
    resource_id: str | None = None,
    workspace_id: str | None = None,
    actor_user_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Adds an audit event to the caller's transaction — a session's or a `Database.core_transaction()`'s
    connection — (delivered after it commits), or to a stage a later transaction inserts; the event's id.

    `service` is the emitting service (its relay delivers the row). The actor defaults to the signed-in
    user of the current request (none for a service or anonymous caller). `details` must be JSON-serialisable
    and must never hold secrets.
    """
    for name, value, limit in (
        ("action", action, MAX_NAME_LENGTH),
        ("resource_type", resource_type, MAX_NAME_LENGTH),
        ("resource_id", resource_id or "", MAX_RESOURCE_ID_LENGTH),
    ):
        if len(value) > limit:
            raise ValueError(f"audit {name} longer than {limit} characters")
    if not action or not resource_type or not tenant_id:
        raise ValueError("audit events need an action, a resource_type and a tenant_id")
    if actor_user_id is None:
        principal = current_principal.get()
        if principal is not None and principal.user_id:
            actor_user_id = principal.user_id
    payload = {
        "tenant_id": tenant_id,
        "workspace_id": workspace_id,
        "actor_user_id": actor_user_id,
        "action": str(action),
        "resource_type": resource_type,
        "resource_id": resource_id,
        # Round-tripped now, so a value JSON cannot hold fails here, at the call site, not in the flush.
        "details": json.loads(json.dumps(dict(details or {}))),
        "ip": _cut(current_peer_ip.get(), MAX_IP_LENGTH),
        "user_agent": _cut(current_user_agent.get(), MAX_USER_AGENT_LENGTH),
        "request_id": _cut(current_request_id.get(), MAX_REQUEST_ID_LENGTH),
        "created_at": utcnow().isoformat(),
    }
    if isinstance(transaction, AsyncConnection):
        return await add_outbox_row(transaction, service=service, topic=AUDIT_TOPIC, payload=payload)
    if isinstance(transaction, OutboxStage):
        return transaction.add(service=service, topic=AUDIT_TOPIC, payload=payload)
    return add_outbox_event(transaction, service=service, topic=AUDIT_TOPIC, payload=payload)


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


def audit_event_message(event_id: str, payload: Mapping[str, Any]) -> audit_pb2.AuditEvent:
    """The `AuditEvent` an outbox row's payload describes (the relay sends it to AuditService.Record)."""
    return audit_pb2.AuditEvent(
        id=event_id,
        tenant_id=payload["tenant_id"],
        workspace_id=payload.get("workspace_id") or "",
        actor_user_id=payload.get("actor_user_id") or "",
        action=payload["action"],
        resource_type=payload["resource_type"],
        resource_id=payload.get("resource_id") or "",
        details_json=json.dumps(payload.get("details") or {}, sort_keys=True, separators=(",", ":")),
        ip=payload.get("ip") or "",
        user_agent=payload.get("user_agent") or "",
        request_id=payload.get("request_id") or "",
        create_time=timestamp(datetime.fromisoformat(payload["created_at"])),
    )
