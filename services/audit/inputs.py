"""Requests to domain values: every field checked, every problem a `BadInput` naming the request field."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC

from geko.audit.v1 import audit_pb2
from services.audit.repository import AuditQuery
from services.audit.service import NewEntry
from services.runtime.clock import utcnow
from services.runtime.errors import BadInput, NotFound
from services.runtime.ids import new_id, parse_id

ACTION_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
# Column widths of audit_logs (db/models/audit.py).
MAX_NAME = 64
MAX_RESOURCE_ID = 128
MAX_IP = 64
MAX_USER_AGENT = 1024
MAX_REQUEST_ID = 64
MAX_DETAILS_BYTES = 64 * 1024
# Events per BatchRecord: a relay sends at most its claim (services/events/relay.py BATCH_SIZE) at once.
MAX_BATCH = 500


def new_entry(event: audit_pb2.AuditEvent, *, field: str = "event") -> NewEntry:
    """The entry a Record request asks to append; problems name `field` (the event's place in the request)."""
    if not ACTION_PATTERN.fullmatch(event.action):
        raise BadInput("action must be UPPER_SNAKE_CASE, at most 64 characters", field=f"{field}.action")
    if not event.resource_type or len(event.resource_type) > MAX_NAME:
        raise BadInput("resource_type is required, at most 64 characters", field=f"{field}.resource_type")
    return NewEntry(
        id=_id(event.id, f"{field}.id") if event.id else new_id(),
        tenant_id=_id(event.tenant_id, f"{field}.tenant_id"),
        workspace_id=_optional_id(event.workspace_id, f"{field}.workspace_id"),
        actor_user_id=_optional_id(event.actor_user_id, f"{field}.actor_user_id"),
        action=event.action,
        resource_type=_text(event.resource_type, MAX_NAME, f"{field}.resource_type") or "",
        resource_id=_text(event.resource_id, MAX_RESOURCE_ID, f"{field}.resource_id"),
        details=_details(event.details_json, f"{field}.details_json"),
        ip=_text(event.ip, MAX_IP, f"{field}.ip"),
        user_agent=_text(event.user_agent, MAX_USER_AGENT, f"{field}.user_agent"),
        request_id=_text(event.request_id, MAX_REQUEST_ID, f"{field}.request_id"),
        created_at=event.create_time.ToDatetime(tzinfo=UTC) if event.HasField("create_time") else utcnow(),
    )


def new_entries(events: Sequence[audit_pb2.AuditEvent]) -> list[NewEntry]:
    """The entries a BatchRecord request asks to append, in order; the first invalid one fails them all,
    named by its index (events[3].action)."""
    if len(events) > MAX_BATCH:
        raise BadInput(f"at most {MAX_BATCH} events per batch", field="events")
    return [new_entry(event, field=f"events[{index}]") for index, event in enumerate(events)]


def audit_query(*, tenant_id: str, workspace_id: str, filter: audit_pb2.AuditEventFilter) -> AuditQuery:
    """What a List or Export request reads, in the caller's tenant. A workspace id that cannot exist is
    NOT_FOUND, like any other workspace the caller cannot see."""
    if not workspace_id:
        raise BadInput("workspace_id is required", field="workspace_id")
    workspace = parse_id(workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    start = filter.start_time.ToDatetime(tzinfo=UTC) if filter.HasField("start_time") else None
    end = filter.end_time.ToDatetime(tzinfo=UTC) if filter.HasField("end_time") else None
    if start is not None and end is not None and end <= start:
        raise BadInput("end_time must be after start_time", field="filter.end_time")
    return AuditQuery(
        tenant_id=tenant_id,
        workspace_id=workspace,
        actor_user_id=_optional_id(filter.actor_user_id, "filter.actor_user_id"),
        action=filter.action or None,
        resource_type=filter.resource_type or None,
        resource_id=filter.resource_id or None,
        start=start,
        end=end,
    )


def tenant_filter(tenant_id: str) -> str | None:
    """VerifyAuditChain's tenant: None (every tenant) when empty."""
    return _optional_id(tenant_id, "tenant_id")


def _id(value: str, field: str) -> str:
    parsed = parse_id(value)
    if parsed is None:
        raise BadInput(f"{field.rsplit('.', 1)[-1]} is not a valid id", field=field)
    return parsed


def _optional_id(value: str, field: str) -> str | None:
    return _id(value, field) if value else None


def _text(value: str, limit: int, field: str) -> str | None:
    """`value`, or None when empty; refused when too long or holding NUL (PostgreSQL text cannot)."""
    if len(value) > limit:
        raise BadInput(f"{field.rsplit('.', 1)[-1]} is longer than {limit} characters", field=field)
    if "\x00" in value:
        raise BadInput(f"{field.rsplit('.', 1)[-1]} contains a NUL character", field=field)
    return value or None


def _details(text: str, field: str) -> dict[str, object]:
    if not text:
        return {}
    if len(text.encode("utf-8")) > MAX_DETAILS_BYTES or "\\u0000" in text:
        raise BadInput("details_json is too large or holds a NUL character", field=field)
    try:
        details = json.loads(text)
    except ValueError:
        raise BadInput("details_json is not valid JSON", field=field) from None
    if not isinstance(details, dict):
        raise BadInput("details_json must be a JSON object", field=field)
    return details
