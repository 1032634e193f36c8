"""The outbox: an audit event commits or rolls back with its change, and the relay delivers each committed
one exactly once to the audit service — after a rollback nothing, while audit is down nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from db.models.audit import AuditLog
from db.models.outbox import OutboxEvent
from services.audit import servicer as audit_servicer
from services.audit.chain import GENESIS_HASH
from services.events.audit import AuditAction, record_audit
from services.events.outbox import register_waiter, unregister_waiter
from services.events.relay import BATCH_SIZE, OutboxRelay
from services.hosting import reserved_loopback_port
from services.runtime.clients import Channels
from services.runtime.clock import utcnow
from services.runtime.context import (
    Principal,
    current_peer_ip,
    current_principal,
    current_request_id,
    current_user_agent,
)
from services.runtime.database import Database
from services.runtime.ids import new_id
from services.runtime.metrics import REGISTRY
from services.runtime.server import GrpcServer
from services.runtime.tokens import jwks_verifier_from_channels
from tests.integration.audit.harness import AuditPlatform
from tests.unit.runtime.test_database import TRANSACTIONS, Begin

SERVICE = "billing"  # rows of a service whose code emits none in these tests, so relays see only ours


async def emit(
    database: Database,
    tenant_id: str,
    count: int = 1,
    begin: Begin = Database.transaction,
    **fields: str,
) -> list[str]:
    """`count` audit events of `tenant_id`, committed in one transaction (`begin`'s kind); their ids."""
    async with begin(database) as transaction:
        return [
            await record_audit(
                transaction,
                service=SERVICE,
                action=fields.get("action", AuditAction.WORKSPACE_UPDATED),
                tenant_id=tenant_id,
                resource_type="workspace",
                resource_id=fields.get("resource_id", f"w-{index}"),
                details={"index": index},
            )
            for index in range(count)
        ]


async def chain_of(database: Database, tenant_id: str) -> Sequence[AuditLog]:
    async with database.session() as session:
        query = select(AuditLog).where(AuditLog.tenant_id == tenant_id).order_by(AuditLog.seq)
        return (await session.execute(query)).scalars().all()


async def outbox_rows(database: Database, ids: Sequence[str]) -> dict[str, OutboxEvent]:
    async with database.session() as session:
        rows = (await session.execute(select(OutboxEvent).where(OutboxEvent.id.in_(ids)))).scalars()
        return {row.id: row for row in rows}


@pytest.fixture(autouse=True)
async def park_leftovers(audit_platform: AuditPlatform) -> None:
    """Puts off the undelivered rows earlier tests of the module left (a bad row backing off) on its shared
    database, so that none comes due in the middle of a test and is claimed with its rows."""
    async with audit_platform.database.transaction() as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.delivered_at.is_(None))
            .values(available_at=utcnow() + timedelta(days=1))
        )


def handled(method: str, *, code: str | None = None) -> float:
    """AuditService `method` calls completed by this process's servers (with `code` when given), from the
    servers' own Prometheus counter."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "grpc_server_handled"
        for sample in metric.samples
        if sample.name == "grpc_server_handled_total"
        and sample.labels["service"] == audit_servicer.SERVICE_NAME
        and sample.labels["method"] == method
        and code in (None, sample.labels["code"])
    )


async def make_due(database: Database, ids: Sequence[str]) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(available_at=utcnow())
        )


@TRANSACTIONS
async def test_a_rolled_back_change_records_nothing(audit_platform: AuditPlatform, begin: Begin) -> None:
    tenant_id = new_id()
    written: list[str] = []

    async def change_that_fails() -> None:
        async with begin(audit_platform.database) as transaction:
            written.append(
                await record_audit(
                    transaction,
                    service=SERVICE,
                    action="WORKSPACE_CREATED",
                    tenant_id=tenant_id,
                    resource_type="workspace",
                )
            )
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()

    assert len(written) == 1
    assert await audit_platform.relay().drain() == 0
    assert await outbox_rows(audit_platform.database, written) == {}
    assert await chain_of(audit_platform.database, tenant_id) == []


async def test_a_committed_event_is_delivered_once_with_who_and_from_where(
    audit_platform: AuditPlatform,
) -> None:
    tenant_id, actor = new_id(), new_id()
    current_principal.set(Principal(user_id=actor, tenant_id=tenant_id, role="owner"))
    current_peer_ip.set("203.0.113.7")
    current_user_agent.set("Mozilla/5.0 (test)")
    current_request_id.set("req-42")
    workspace_id = new_id()
    async with audit_platform.database.transaction() as session:
        event_id = await record_audit(
            session,
            service=SERVICE,
            action=AuditAction.MEMBER_ROLE_CHANGED,
            tenant_id=tenant_id,
            workspace_id=workspace_id,
            resource_type="member",
            resource_id="u-1",
            details={"from": "viewer", "to": "editor"},
        )
    relay = audit_platform.relay()

    assert await relay.drain() == 1
    assert await relay.drain() == 0

    [entry] = await chain_of(audit_platform.database, tenant_id)
    assert (entry.id, entry.seq, entry.prev_hash) == (event_id, 1, GENESIS_HASH)
    assert (entry.action, entry.resource_type, entry.resource_id) == ("MEMBER_ROLE_CHANGED", "member", "u-1")
    assert (entry.workspace_id, entry.actor_user_id) == (workspace_id, actor)
    assert (entry.ip, entry.user_agent, entry.request_id) == ("203.0.113.7", "Mozilla/5.0 (test)", "req-42")
    assert entry.details == {"from": "viewer", "to": "editor"}
    row = (await outbox_rows(audit_platform.database, [event_id]))[event_id]
    assert row.delivered_at is not None
    assert row.attempts == 0

    # Delivered again (its relay died before marking it, and the lease ran out): recorded once all the same.
    async with audit_platform.database.transaction() as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event_id)
            .values(delivered_at=None, available_at=utcnow())
        )
    assert await relay.drain() == 1
    assert [entry.id for entry in await chain_of(audit_platform.database, tenant_id)] == [event_id]


async def test_events_wait_while_audit_is_down_and_go_when_it_returns(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    ids = await emit(audit_platform.database, tenant_id, count=3)
    with reserved_loopback_port() as port:
        settings = audit_platform.settings.model_copy(update={"audit_addr": f"127.0.0.1:{port}"})
        relay = audit_platform.relay(settings=settings)

        assert await relay.drain() == 0
        rows = await outbox_rows(audit_platform.database, ids)
        first, *rest = (rows[event_id] for event_id in ids)
        assert (first.delivered_at, first.attempts) == (None, 1)
        assert (first.last_error or "").startswith("UPSTREAM_UNAVAILABLE")
        assert first.available_at > utcnow()  # backing off
        assert all(row.delivered_at is None and row.attempts == 0 for row in rest)  # not tried, kept
        assert await chain_of(audit_platform.database, tenant_id) == []

        server = GrpcServer(
            [audit_servicer.create(audit_platform.deps)],
            token_verifier=jwks_verifier_from_channels(
                audit_platform.deps.channels,
                settings,
                service_key=settings.secret_key.get_secret_value().encode(),
            ),
            settings=settings,
        )
        await server.start(f"127.0.0.1:{port}")
        try:
            delivered = 0
            for _ in range(200):  # the channel reconnects after its own backoff
                await make_due(audit_platform.database, ids)
                delivered += await relay.drain()
                if delivered == len(ids):
                    break
                await asyncio.sleep(0.1)
        finally:
            await server.stop(0)

    assert delivered == len(ids)
    assert [entry.id for entry in await chain_of(audit_platform.database, tenant_id)] == ids


async def test_a_bad_event_does_not_hold_back_the_next(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    [bad] = await emit(audit_platform.database, tenant_id, action="not an action")
    [good] = await emit(audit_platform.database, tenant_id)

    assert await audit_platform.relay().drain() == 1

    rows = await outbox_rows(audit_platform.database, [bad, good])
    assert (rows[bad].delivered_at, rows[bad].attempts) == (None, 1)
    assert (rows[bad].last_error or "").startswith("BAD_USER_INPUT")
    assert rows[good].delivered_at is not None
    assert [entry.id for entry in await chain_of(audit_platform.database, tenant_id)] == [good]


@TRANSACTIONS
async def test_a_commit_wakes_the_running_relay(audit_platform: AuditPlatform, begin: Begin) -> None:
    tenant_id = new_id()
    relay = audit_platform.relay(poll_seconds=3600)  # only a wake-up can make it deliver in time
    await relay.start()
    for expected in (1, 2):  # the second event arrives after the relay's first round, while it waits
        await emit(audit_platform.database, tenant_id, begin=begin)
        for _ in range(400):
            if len(await chain_of(audit_platform.database, tenant_id)) == expected:
                break
            await asyncio.sleep(0.025)
        assert len(await chain_of(audit_platform.database, tenant_id)) == expected
    await relay.stop()


async def _fail_after_an_event(database: Database, begin: Begin) -> None:
    async with begin(database) as transaction:
        await record_audit(
            transaction, service=SERVICE, action="WORKSPACE_CREATED", tenant_id=new_id(), resource_type="w"
        )
        raise RuntimeError("the change failed")


@TRANSACTIONS
async def test_relays_are_woken_once_the_transaction_commits_and_never_by_a_rollback(
    audit_platform: AuditPlatform, begin: Begin
) -> None:
    waiter = register_waiter([SERVICE])
    try:
        with pytest.raises(RuntimeError):
            await _fail_after_an_event(audit_platform.database, begin)
        async with begin(audit_platform.database):
            pass  # the same pooled connection, most likely: the rolled-back wake-up must not linger on it
        rolled_back = waiter.event.is_set()
        async with begin(audit_platform.database) as transaction:
            await record_audit(
                transaction,
                service=SERVICE,
                action="WORKSPACE_CREATED",
                tenant_id=new_id(),
                resource_type="w",
            )
            woken_before_commit = waiter.event.is_set()
        woken = waiter.event.is_set()
    finally:
        unregister_waiter(waiter)

    assert (rolled_back, woken_before_commit, woken) == (False, False, True)


async def test_two_relays_racing_deliver_every_event_once(audit_platform: AuditPlatform) -> None:
    if audit_platform.database.dialect != "postgresql":
        pytest.skip("several relay processes share a database only on PostgreSQL")
    tenant_id = new_id()
    ids = await emit(audit_platform.database, tenant_id, count=150)
    settings = audit_platform.settings
    relays = []
    resources: list[tuple[Database, Channels]] = []
    for _ in range(2):  # as two processes: their own pools and channels
        database, channels = Database(audit_platform.database.url), Channels(settings)
        resources.append((database, channels))
        relays.append(OutboxRelay(database, channels, settings, [SERVICE]))
    try:
        counts = await asyncio.gather(*(relay.drain() for relay in relays))
    finally:
        for database, channels in resources:
            await channels.close()
            await database.dispose()

    assert sum(counts) == len(ids)  # a row delivered by both would be counted twice
    chain = await chain_of(audit_platform.database, tenant_id)
    assert sorted(entry.id for entry in chain) == sorted(ids)
    assert [entry.seq for entry in chain] == list(range(1, len(ids) + 1))
    async with audit_platform.database.session() as session:
        undelivered = select(func.count()).where(OutboxEvent.id.in_(ids), OutboxEvent.delivered_at.is_(None))
        assert (await session.execute(undelivered)).scalar_one() == 0


async def test_delivered_rows_are_pruned_after_the_retention(audit_platform: AuditPlatform) -> None:
    old, recent, pending = await emit(audit_platform.database, new_id(), count=3)
    relay = audit_platform.relay()
    async with audit_platform.database.transaction() as session:
        for event_id, delivered_at in ((old, utcnow() - timedelta(days=8)), (recent, utcnow())):
            await session.execute(
                update(OutboxEvent).where(OutboxEvent.id == event_id).values(delivered_at=delivered_at)
            )

    assert await relay.prune(older_than=timedelta(days=7)) == 1
    assert set(await outbox_rows(audit_platform.database, [old, recent, pending])) == {recent, pending}


async def test_queued_events_go_in_one_call_per_batch(audit_platform: AuditPlatform) -> None:
    acme, globex = new_id(), new_id()
    ids = await emit(audit_platform.database, acme, count=200)
    ids += await emit(audit_platform.database, globex, count=50)
    batches, singles = handled("BatchRecord"), handled("Record")

    assert await audit_platform.relay().drain() == 250

    assert handled("BatchRecord") - batches == -(-250 // BATCH_SIZE)
    assert handled("Record") == singles
    for tenant_id, expected in ((acme, ids[:200]), (globex, ids[200:])):
        assert [entry.id for entry in await chain_of(audit_platform.database, tenant_id)] == expected
        assert (await audit_platform.verify(tenant_id)).ok
    rows = await outbox_rows(audit_platform.database, ids)
    assert all(row.delivered_at is not None and row.attempts == 0 for row in rows.values())


async def test_a_bad_event_in_a_batch_fails_alone_and_backs_off_alone(audit_platform: AuditPlatform) -> None:
    tenant_id = new_id()
    first = await emit(audit_platform.database, tenant_id, count=2)
    [bad] = await emit(audit_platform.database, tenant_id, action="not an action")
    last = await emit(audit_platform.database, tenant_id, count=2)
    relay = audit_platform.relay()
    calls, accepted = handled("BatchRecord"), handled("BatchRecord", code="OK")

    assert await relay.drain() == 4

    # The batch of five refused, then each row on its own: four go through, the bad one fails.
    assert (handled("BatchRecord") - calls, handled("BatchRecord", code="OK") - accepted) == (6, 4)
    assert [entry.id for entry in await chain_of(audit_platform.database, tenant_id)] == first + last
    bad_row = (await outbox_rows(audit_platform.database, [bad]))[bad]
    assert (bad_row.delivered_at, bad_row.attempts) == (None, 1)
    assert (bad_row.last_error or "").startswith("BAD_USER_INPUT")
    assert bad_row.available_at > utcnow()  # backing off

    await make_due(audit_platform.database, [*first, bad, *last])
    calls = handled("BatchRecord")
    assert await relay.drain() == 0

    assert handled("BatchRecord") - calls == 1  # only the bad row was due: tried alone
    bad_row = (await outbox_rows(audit_platform.database, [bad]))[bad]
    assert (bad_row.delivered_at, bad_row.attempts) == (None, 2)
    assert bad_row.available_at > utcnow() + timedelta(seconds=1)  # the second backoff is longer
    assert len(await chain_of(audit_platform.database, tenant_id)) == 4
