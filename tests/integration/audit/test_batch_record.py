"""BatchRecord (internal callers only): one call appends events of several tenants, each to its own chain
in the order given; a replay records nothing twice; an invalid event fails the whole batch, named by its
index."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import grpc
from sqlalchemy import select

from db.models.audit import AuditLog
from geko.audit.v1 import audit_pb2
from services.audit.chain import GENESIS_HASH, entry_hash
from services.audit.inputs import MAX_BATCH
from services.runtime.ids import new_id
from tests.integration.audit.harness import AuditPlatform, audit_event
from tests.integration.auth.harness import rpc_error


async def chain(harness: AuditPlatform, tenant_id: str) -> list[AuditLog]:
    async with harness.database.session() as session:
        query = select(AuditLog).where(AuditLog.tenant_id == tenant_id).order_by(AuditLog.seq)
        return list((await session.execute(query)).scalars())


async def test_a_batch_of_two_tenants_lands_in_both_chains_in_order(audit_platform: AuditPlatform) -> None:
    acme, globex = new_id(), new_id()
    earlier = await audit_platform.record(acme, resource_id="before")  # the batch continues an existing chain
    events = [
        audit_event((acme, globex)[i % 3 == 2], resource_id=f"r-{i}", details={"i": i}) for i in range(9)
    ]
    events[4].id = new_id()  # an id chosen by the emitter is kept

    ids = await audit_platform.batch_record(events)

    assert len(ids) == 9
    assert ids[4] == events[4].id
    acme_chain, globex_chain = await chain(audit_platform, acme), await chain(audit_platform, globex)
    assert [entry.id for entry in acme_chain] == [earlier] + [ids[i] for i in range(9) if i % 3 != 2]
    assert [entry.id for entry in globex_chain] == [ids[2], ids[5], ids[8]]
    assert [entry.resource_id for entry in globex_chain] == ["r-2", "r-5", "r-8"]
    for entries in (acme_chain, globex_chain):
        assert [entry.seq for entry in entries] == list(range(1, len(entries) + 1))
        assert [entry.prev_hash for entry in entries] == [GENESIS_HASH] + [e.hash for e in entries[:-1]]
        assert all(entry.hash == entry_hash(entry) for entry in entries)
    for tenant_id, expected in ((acme, 7), (globex, 3)):
        report = await audit_platform.verify(tenant_id)
        assert (report.ok, report.checked_count) == (True, expected)


async def test_a_hash_as_written_is_the_one_recomputed_from_the_stored_row(
    audit_platform: AuditPlatform,
) -> None:
    """Entries are hashed from the values about to be inserted, the walk from the row read back: text
    beyond ASCII, nested details, empty optional fields and a time given in another zone hash alike."""
    tenant_id = new_id()
    elsewhere = timezone(timedelta(hours=-7, minutes=-30))
    events = [
        audit_event(
            tenant_id,
            resource_id='Zoë — «quoted» "name"',
            details={"z": [1, 2.5, None, True], "a": {"ünïcode": "日本語", "nested": {"b": 1, "a": 2}}},
            at=datetime(2026, 3, 1, 4, 5, 6, 789012, tzinfo=elsewhere),
        ),
        audit_event(tenant_id, workspace_id=new_id(), actor_user_id=new_id()),
    ]
    events[1].ip = events[1].user_agent = events[1].request_id = ""

    await audit_platform.batch_record(events)

    entries = await chain(audit_platform, tenant_id)
    assert [entry.hash for entry in entries] == [entry_hash(entry) for entry in entries]
    assert entries[0].created_at == datetime(2026, 3, 1, 11, 35, 6, 789012, tzinfo=UTC)
    assert entries[0].details["a"]["ünïcode"] == "日本語"
    assert (entries[1].ip, entries[1].user_agent, entries[1].request_id) == (None, None, None)
    report = await audit_platform.verify(tenant_id)
    assert (report.ok, report.checked_count) == (True, 2)


async def test_concurrent_batches_sharing_tenants_keep_every_chain_gapless(
    audit_platform: AuditPlatform,
) -> None:
    tenants = [new_id() for _ in range(3)]
    # Each batch meets the tenants in another order: chain locks taken in that order could deadlock.
    batches = [
        [audit_event(tenants[(offset + i) % 3] if offset % 2 else tenants[-1 - (i % 3)]) for i in range(12)]
        for offset in range(6)
    ]

    await asyncio.gather(*(audit_platform.batch_record(batch) for batch in batches))

    for tenant_id in tenants:
        entries = await chain(audit_platform, tenant_id)
        assert [entry.seq for entry in entries] == list(range(1, 25))
        report = await audit_platform.verify(tenant_id)
        assert (report.ok, report.checked_count) == (True, 24)


async def test_a_replayed_batch_records_nothing_twice(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    already = await audit_platform.record(tenant_id, details={"first": True})
    events = [audit_event(tenant_id, event_id=new_id(), details={"i": i}) for i in range(3)]
    batch = [*events, audit_event(tenant_id, event_id=already, details={"first": False}), events[1]]

    first = await audit_platform.batch_record(batch)
    again = await audit_platform.batch_record(batch)

    assert first == again == [event.id for event in batch]
    entries = await chain(audit_platform, tenant_id)
    assert [entry.id for entry in entries] == [already] + [event.id for event in events]
    assert entries[0].details == {"first": True}  # the first delivery stands
    assert (await audit_platform.verify(tenant_id)).checked_count == 4


async def test_an_invalid_event_fails_the_batch_by_its_index_recording_nothing(
    audit_platform: AuditPlatform,
) -> None:
    tenant_id = new_id()
    events = [audit_event(tenant_id) for _ in range(4)]
    events[2].action = "not an action"
    too_many = [audit_event(tenant_id) for _ in range(MAX_BATCH + 1)]
    metadata = audit_platform.service_metadata()

    bad = await rpc_error(
        audit_platform.audit.BatchRecord(audit_pb2.BatchRecordRequest(events=events), metadata=metadata)
    )
    oversized = await rpc_error(
        audit_platform.audit.BatchRecord(audit_pb2.BatchRecordRequest(events=too_many), metadata=metadata)
    )

    assert (bad[0], bad[1].field) == (grpc.StatusCode.INVALID_ARGUMENT, "events[2].action")
    assert (oversized[0], oversized[1].field) == (grpc.StatusCode.INVALID_ARGUMENT, "events")
    assert await chain(audit_platform, tenant_id) == []


async def test_only_services_may_record_batches(audit_platform: AuditPlatform) -> None:
    team = await audit_platform.team()
    request = audit_pb2.BatchRecordRequest(events=[audit_event(team.owner.tenant_id)])

    anonymous = await rpc_error(audit_platform.audit.BatchRecord(request))
    as_user = await rpc_error(audit_platform.audit.BatchRecord(request, metadata=team.md(team.owner)))

    assert anonymous[0] == grpc.StatusCode.UNAUTHENTICATED
    assert (as_user[0], as_user[1].message) == (grpc.StatusCode.PERMISSION_DENIED, "internal callers only")
    assert await chain(audit_platform, team.owner.tenant_id) == []


async def test_an_empty_batch_records_nothing(audit_platform: AuditPlatform) -> None:
    assert await audit_platform.batch_record([]) == []
