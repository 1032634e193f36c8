"""Record (internal callers only, idempotent) builds each tenant's hash chain without gaps, even under
concurrent appends; VerifyAuditChain finds exactly the entry that was edited, and the gap a deletion left."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import delete, select, update

from db.models.audit import AuditLog
from geko.audit.v1 import audit_pb2
from services.audit.chain import GENESIS_HASH, entry_hash
from services.runtime.ids import new_id
from tests.integration.audit.harness import AuditPlatform, AuditPlatformFactory
from tests.integration.auth.harness import rpc_error


async def chain(harness: AuditPlatform, tenant_id: str) -> list[AuditLog]:
    async with harness.database.session() as session:
        query = select(AuditLog).where(AuditLog.tenant_id == tenant_id).order_by(AuditLog.seq)
        return list((await session.execute(query)).scalars())


async def test_only_services_may_record(audit_platform: AuditPlatform) -> None:
    team = await audit_platform.team()
    request = audit_pb2.RecordRequest(
        event=audit_pb2.AuditEvent(tenant_id=team.owner.tenant_id, action="X", resource_type="y")
    )

    anonymous = await rpc_error(audit_platform.audit.Record(request))
    as_user = await rpc_error(audit_platform.audit.Record(request, metadata=team.md(team.owner)))
    forged = await rpc_error(
        audit_platform.audit.Record(request, metadata=(("authorization", "Bearer gks_forged"),))
    )
    as_user_verify = await rpc_error(
        audit_platform.audit.VerifyAuditChain(
            audit_pb2.VerifyAuditChainRequest(), metadata=team.md(team.owner)
        )
    )

    assert anonymous[0] == grpc.StatusCode.UNAUTHENTICATED
    assert (as_user[0], as_user[1].message) == (grpc.StatusCode.PERMISSION_DENIED, "internal callers only")
    assert forged[0] == grpc.StatusCode.UNAUTHENTICATED
    assert as_user_verify[0] == grpc.StatusCode.PERMISSION_DENIED
    assert await chain(audit_platform, team.owner.tenant_id) == []


async def test_a_chain_links_every_entry_and_records_an_id_once(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    first = await audit_platform.record(tenant_id, details={"name": "Design", "n": 1})
    again = await audit_platform.record(tenant_id, event_id=first, details={"name": "changed"})
    second = await audit_platform.record(tenant_id, action="WORKSPACE_DELETED")

    entries = await chain(audit_platform, tenant_id)
    assert again == first
    assert [(entry.id, entry.seq) for entry in entries] == [(first, 1), (second, 2)]
    assert entries[0].details == {"name": "Design", "n": 1}  # the first delivery stands
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash
    assert all(entry.hash == entry_hash(entry) for entry in entries)


async def test_concurrent_appends_keep_each_tenant_chain_gapless(audit_platform: AuditPlatform) -> None:
    tenants = [new_id(), new_id()]
    duplicate = new_id()
    calls = [audit_platform.record(tenants[i % 2], resource_id=str(i)) for i in range(40)]
    calls += [audit_platform.record(tenants[0], event_id=duplicate) for _ in range(4)]

    await asyncio.gather(*calls)

    for tenant_id, expected in ((tenants[0], 21), (tenants[1], 20)):
        entries = await chain(audit_platform, tenant_id)
        assert [entry.seq for entry in entries] == list(range(1, expected + 1))
        assert [entry.prev_hash for entry in entries] == [GENESIS_HASH] + [e.hash for e in entries[:-1]]
        report = await audit_platform.verify(tenant_id)
        assert (report.ok, report.checked_count) == (True, expected)
    assert [entry.id for entry in await chain(audit_platform, tenants[0])].count(duplicate) == 1


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (
            audit_pb2.AuditEvent(tenant_id=new_id(), action="member removed", resource_type="m"),
            "event.action",
        ),
        (audit_pb2.AuditEvent(tenant_id="acme", action="X", resource_type="m"), "event.tenant_id"),
        (audit_pb2.AuditEvent(tenant_id=new_id(), action="X", resource_type=""), "event.resource_type"),
        (
            audit_pb2.AuditEvent(tenant_id=new_id(), action="X", resource_type="m", details_json="[1]"),
            "event.details_json",
        ),
        (
            audit_pb2.AuditEvent(tenant_id=new_id(), action="X", resource_type="m", workspace_id="w1"),
            "event.workspace_id",
        ),
        (
            audit_pb2.AuditEvent(tenant_id=new_id(), action="X", resource_type="m", resource_id="r" * 129),
            "event.resource_id",
        ),
    ],
)
async def test_bad_events_are_refused_naming_the_field(
    audit_platform: AuditPlatform, event: audit_pb2.AuditEvent, field: str
) -> None:
    code, error = await rpc_error(
        audit_platform.audit.Record(
            audit_pb2.RecordRequest(event=event), metadata=audit_platform.service_metadata()
        )
    )
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, field)


async def test_verify_reports_exactly_the_edited_entry(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    ids = [await audit_platform.record(tenant_id, details={"i": i}) for i in range(5)]
    assert (await audit_platform.verify(tenant_id)).ok

    async with audit_platform.database.transaction() as session:
        await session.execute(update(AuditLog).where(AuditLog.id == ids[2]).values(details={"i": 99}))
    report = await audit_platform.verify(tenant_id)

    assert not report.ok
    assert (report.first_broken_event_id, report.first_broken_seq) == (ids[2], 3)
    assert report.first_broken_tenant_id == tenant_id
    assert report.reason.startswith("hash mismatch")
    assert report.checked_count == 2


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    ids = [await audit_platform.record(tenant_id) for _ in range(3)]
    async with audit_platform.database.transaction() as session:
        entry = await session.get(AuditLog, ids[1])
        assert entry is not None
        entry.actor_user_id = new_id()
        entry.hash = entry_hash(entry)

    report = await audit_platform.verify(tenant_id)

    assert (report.ok, report.first_broken_event_id, report.first_broken_seq) == (False, ids[2], 3)
    assert report.reason.startswith("prev_hash mismatch")


async def test_verify_reports_the_gap_a_deleted_entry_leaves(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    ids = [await audit_platform.record(tenant_id) for _ in range(4)]
    async with audit_platform.database.transaction() as session:
        await session.execute(delete(AuditLog).where(AuditLog.id == ids[1]))

    report = await audit_platform.verify(tenant_id)

    assert (report.ok, report.first_broken_event_id, report.first_broken_seq) == (False, ids[2], 3)
    assert report.reason.startswith("gap: entry seq 2 is missing")
    assert report.checked_count == 1


async def test_verify_walks_long_chains_in_pages(start_audit: AuditPlatformFactory) -> None:
    harness = await start_audit(chain_page_size=7)
    tenant_id = new_id()
    ids = [await harness.record(tenant_id, details={"i": i}) for i in range(30)]
    assert (await harness.verify(tenant_id)).checked_count == 30

    async with harness.database.transaction() as session:
        await session.execute(update(AuditLog).where(AuditLog.id == ids[22]).values(details={"i": -1}))
    report = await harness.verify(tenant_id)
    assert (report.first_broken_event_id, report.checked_count) == (ids[22], 22)
