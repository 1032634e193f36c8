"""The usage outbox: a turn's `CommitUsage` kept for later when BillingService cannot take it now.

The chat service commits usage straight to billing; when billing is unreachable it calls `queue_usage_commit`
and the process's `OutboxRelay` delivers the request later as the platform's service identity (the user's
token may have expired by then), which is why the request carries `tenant_id`. Billing applies a commit once
per idempotency key (the turn id), so a row delivered twice — or a commit that did reach billing before the
caller gave up on it — still counts once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geko.billing.v1 import billing_pb2
from services.events.outbox import add_outbox_event
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.messages import timestamp

USAGE_TOPIC = "usage"
_REQUIRED = ("idempotency_key", "model_id", "tenant_id", "workspace_id", "user_id")


def add_usage_commit(session: AsyncSession, *, service: str, request: billing_pb2.CommitUsageRequest) -> str:
    """Adds `request` to `session`'s transaction for `service`'s relay to deliver; the outbox row's id.

    tenant_id, workspace_id, user_id, model_id and idempotency_key must be set (the relay speaks for no user,
    so billing takes them from the request). An unset usage_time becomes now: a late delivery still bills
    the turn at the prices of when it ran.
    """
    missing = [name for name in _REQUIRED if not getattr(request, name).strip()]
    if missing:
        raise ValueError(f"a queued usage commit needs {', '.join(missing)}")
    used_at = request.usage_time.ToDatetime(UTC) if request.HasField("usage_time") else utcnow()
    payload: dict[str, Any] = {
        "reservation_id": request.reservation_id,
        "idempotency_key": request.idempotency_key,
        "input_tokens": request.input_tokens,
        "output_tokens": request.output_tokens,
        "model_id": request.model_id,
        "workspace_id": request.workspace_id,
        "user_id": request.user_id,
        "tenant_id": request.tenant_id,
        "usage_time": used_at.isoformat(),
    }
    return add_outbox_event(session, service=service, topic=USAGE_TOPIC, payload=payload)


async def queue_usage_commit(
    database: Database, service: str, request: billing_pb2.CommitUsageRequest
) -> str:
    """`add_usage_commit` in a transaction of its own (the caller has none open); the outbox row's id."""
    async with database.transaction() as session:
        return add_usage_commit(session, service=service, request=request)


def usage_commit_request(payload: dict[str, Any]) -> billing_pb2.CommitUsageRequest:
    """The `CommitUsageRequest` an outbox row's payload describes (the relay sends it to billing)."""
    return billing_pb2.CommitUsageRequest(
        reservation_id=payload["reservation_id"],
        idempotency_key=payload["idempotency_key"],
        input_tokens=payload["input_tokens"],
        output_tokens=payload["output_tokens"],
        model_id=payload["model_id"],
        workspace_id=payload["workspace_id"],
        user_id=payload["user_id"],
        tenant_id=payload["tenant_id"],
        usage_time=timestamp(datetime.fromisoformat(payload["usage_time"])),
    )
