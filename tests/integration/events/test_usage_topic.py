"""One relay, several topics: a recipient that is down holds back its own topic's rows, never another's."""

from __future__ import annotations

from sqlalchemy import select

from db.models.audit import AuditLog
from db.models.outbox import OutboxEvent
from geko.billing.v1 import billing_pb2
from services.events.audit import AuditAction, record_audit
from services.events.usage import USAGE_TOPIC, add_usage_commit
from services.hosting import reserved_loopback_port
from services.runtime.clock import utcnow
from services.runtime.ids import new_id
from tests.integration.audit.harness import AuditPlatform

SERVICE = "billing"  # a service whose code emits no outbox rows in these tests


def usage(tenant_id: str) -> billing_pb2.CommitUsageRequest:
    return billing_pb2.CommitUsageRequest(
        idempotency_key=new_id(),
        input_tokens=10,
        output_tokens=5,
        model_id="gpt-4",
        workspace_id=new_id(),
        user_id=new_id(),
        tenant_id=tenant_id,
    )


async def test_billing_down_holds_back_usage_but_not_audit(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    async with audit_platform.database.transaction() as session:
        first = add_usage_commit(session, service=SERVICE, request=usage(tenant_id))
        second = add_usage_commit(session, service=SERVICE, request=usage(tenant_id))
        audits = [
            await record_audit(
                session,
                service=SERVICE,
                action=AuditAction.WORKSPACE_UPDATED,
                tenant_id=tenant_id,
                resource_type="workspace",
            )
            for _ in range(2)
        ]
    with reserved_loopback_port() as port:  # nothing listens: billing is down
        settings = audit_platform.settings.model_copy(update={"billing_addr": f"127.0.0.1:{port}"})

        assert await audit_platform.relay(settings=settings).drain() == 2

    async with audit_platform.database.session() as session:
        rows = {
            row.id: row
            for row in (await session.execute(select(OutboxEvent).where(OutboxEvent.id.in_([first, second]))))
            .scalars()
            .all()
        }
        chain = (await session.execute(select(AuditLog.id).where(AuditLog.tenant_id == tenant_id))).scalars()
        assert sorted(chain) == sorted(audits)
    assert {rows[first].topic, rows[second].topic} == {USAGE_TOPIC}
    assert (rows[first].attempts, rows[first].delivered_at) == (1, None)
    assert (rows[first].last_error or "").startswith("UPSTREAM_UNAVAILABLE")
    assert (rows[second].attempts, rows[second].delivered_at) == (0, None)  # not tried: kept in order
    assert rows[second].available_at == rows[first].available_at
    assert rows[first].available_at > utcnow()
