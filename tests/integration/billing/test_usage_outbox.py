"""Usage that billing could not take at once: queued in the outbox, delivered by the relay as the platform's
service identity once billing is back, and counted exactly once however often it is replayed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from db.models.billing import Quota, Reservation, TokenUsage
from db.models.outbox import OutboxEvent
from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from services.auth import servicer as auth_servicer
from services.billing import servicer as billing_servicer
from services.events.relay import OutboxRelay
from services.events.usage import USAGE_TOPIC, add_usage_commit, queue_usage_commit
from services.hosting import reserved_loopback_port
from services.runtime.clients import Channels
from services.runtime.clock import utcnow
from services.runtime.errors import ErrorCode, from_rpc_error
from services.runtime.ids import new_id
from services.runtime.server import GrpcServer
from services.runtime.service_identity import service_metadata
from services.runtime.settings import Settings
from tests.integration.auth.harness import Platform
from tests.integration.billing.harness import BillingTeam
from tests.integration.model.harness import model_team

GPT4_MICROS_PER_1K = 30_000
SERVICE = "chat"  # the service whose relay delivers usage rows in production


@pytest.fixture
def billing_port() -> Iterator[int]:
    with reserved_loopback_port() as port:
        yield port


@dataclass
class Billing:
    """Billing on a fixed loopback port that the tests stop and start again (same database), and a relay
    whose channels point there."""

    platform: Platform
    settings: Settings
    port: int
    server: GrpcServer | None = None
    channel: grpc.aio.Channel | None = None
    relays: list[tuple[OutboxRelay, Channels]] = field(default_factory=list)

    async def start(self) -> None:
        deps = self.platform.deps
        self.server = GrpcServer(
            [billing_servicer.create(deps)],
            token_verifier=auth_servicer.local_token_verifier(deps),
            settings=deps.settings,
        )
        await self.server.start(f"127.0.0.1:{self.port}")

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)
            self.server = None

    @property
    def stub(self) -> billing_pb2_grpc.BillingServiceStub:
        if self.channel is None:
            self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        return billing_pb2_grpc.BillingServiceStub(self.channel)

    def relay(self) -> OutboxRelay:
        channels = Channels(self.settings)
        relay = OutboxRelay(self.platform.deps.database, channels, self.settings, [SERVICE])
        self.relays.append((relay, channels))
        return relay

    async def team(self, tenant_name: str = "Acme") -> BillingTeam:
        team = await model_team(self.platform, tenant_name)
        return BillingTeam(
            platform=team.platform,
            owner=team.owner,
            workspace_id=team.workspace_id,
            model=team.model,
            billing=self.stub,
        )


@pytest_asyncio.fixture
async def billing(model_platform: Platform, billing_port: int) -> AsyncIterator[Billing]:
    settings = model_platform.deps.settings.model_copy(update={"billing_addr": f"127.0.0.1:{billing_port}"})
    found = Billing(model_platform, settings, billing_port)
    await found.start()
    yield found
    for relay, channels in found.relays:
        await relay.stop()
        await channels.close()
    if found.channel is not None:
        await found.channel.close()
    await found.stop()


def commit_request(team: BillingTeam, key: str, reservation_id: str = "") -> billing_pb2.CommitUsageRequest:
    return billing_pb2.CommitUsageRequest(
        reservation_id=reservation_id,
        idempotency_key=key,
        input_tokens=1_000,
        output_tokens=500,
        model_id="gpt-4",
        workspace_id=team.workspace_id,
        user_id=team.owner.user_id,
        tenant_id=team.owner.tenant_id,
    )


async def quota(team: BillingTeam) -> billing_pb2.Quota:
    answer = await team.bill.GetQuota(
        billing_pb2.GetQuotaRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
    )
    return answer.quota


async def ledger_rows(team: BillingTeam, key: str) -> list[TokenUsage]:
    async with team.platform.deps.database.session() as session:
        query = select(TokenUsage).where(TokenUsage.idempotency_key == key)
        return list((await session.execute(query)).scalars())


async def outbox_row(team: BillingTeam, row_id: str) -> OutboxEvent:
    async with team.platform.deps.database.session() as session:
        return (await session.execute(select(OutboxEvent).where(OutboxEvent.id == row_id))).scalar_one()


async def make_due(team: BillingTeam, row_ids: list[str], *, undelivered: bool = False) -> None:
    values: dict[str, object] = {"available_at": utcnow()}
    if undelivered:
        values["delivered_at"] = None
    async with team.platform.deps.database.transaction() as session:
        await session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(row_ids)).values(**values))


async def deliver(team: BillingTeam, relay: OutboxRelay, row_ids: list[str]) -> int:
    """Drains until `row_ids` went through (a channel reconnects to a restarted server after its backoff)."""
    delivered = 0
    for _ in range(200):
        await make_due(team, row_ids)
        delivered += await relay.drain()
        if delivered >= len(row_ids):
            break
        await asyncio.sleep(0.1)
    return delivered


async def test_usage_waits_while_billing_is_down_and_is_delivered_once(billing: Billing) -> None:
    team = await billing.team()
    key = new_id()
    held = await team.bill.ReserveTokens(
        billing_pb2.ReserveTokensRequest(
            workspace_id=team.workspace_id, model_id="gpt-4", estimated_tokens=2_000, idempotency_key=key
        ),
        metadata=team.md(team.owner),
    )
    relay = billing.relay()
    await billing.stop()

    row_id = await queue_usage_commit(
        team.platform.deps.database, SERVICE, commit_request(team, key, held.reservation_id)
    )

    assert await relay.drain() == 0
    row = await outbox_row(team, row_id)
    assert (row.topic, row.delivered_at, row.attempts) == (USAGE_TOPIC, None, 1)
    assert (row.last_error or "").startswith("UPSTREAM_UNAVAILABLE")
    assert row.available_at > utcnow()  # backing off
    assert await ledger_rows(team, key) == []

    await billing.start()
    found = await quota(team)
    assert (found.tokens_used, found.tokens_reserved, found.requests_used) == (0, 2_000, 1)  # unchanged

    assert await deliver(team, relay, [row_id]) == 1

    [record] = await ledger_rows(team, key)
    assert (record.input_tokens, record.output_tokens) == (1_000, 500)
    assert (record.user_id, record.workspace_id) == (team.owner.user_id, team.workspace_id)
    assert record.cost_micros == 1_500 * GPT4_MICROS_PER_1K // 1000
    found = await quota(team)
    assert (found.tokens_used, found.tokens_reserved, found.requests_used) == (1_500, 0, 1)
    async with team.platform.deps.database.session() as session:
        reservation = await session.get(Reservation, held.reservation_id)
        assert reservation is not None
        assert reservation.status == "committed"

    # Replayed by the user, by the service directly and by the outbox again: counted once every time.
    replays = [
        await team.bill.CommitUsage(
            commit_request(team, key, held.reservation_id), metadata=team.md(team.owner)
        ),
        await team.bill.CommitUsage(
            commit_request(team, key, held.reservation_id), metadata=service_metadata(billing.settings)
        ),
    ]
    again = await queue_usage_commit(team.platform.deps.database, SERVICE, commit_request(team, key))
    assert await deliver(team, relay, [again]) == 1

    assert [replay.duplicate for replay in replays] == [True, True]
    assert {replay.record.id for replay in replays} == {record.id}
    assert [row.id for row in await ledger_rows(team, key)] == [record.id]
    found = await quota(team)
    assert (found.tokens_used, found.requests_used) == (1_500, 1)


async def test_a_relay_restarted_mid_way_counts_nothing_twice(billing: Billing) -> None:
    team = await billing.team()
    keys = [new_id() for _ in range(3)]
    async with team.platform.deps.database.transaction() as session:
        row_ids = [add_usage_commit(session, service=SERVICE, request=commit_request(team, k)) for k in keys]
    first = billing.relay()
    assert await first.drain() == 3

    # The relay died after delivering but before marking the rows (their lease ran out): another delivers
    # them again, and billing answers each with the first result.
    await make_due(team, row_ids, undelivered=True)
    assert await billing.relay().drain() == 3

    for key in keys:
        assert len(await ledger_rows(team, key)) == 1
    found = await quota(team)
    assert (found.tokens_used, found.requests_used) == (3 * 1_500, 3)


async def test_the_service_path_keeps_the_workspaces_known_plan(billing: Billing) -> None:
    team = await billing.team()
    await team.set_plan("pro")
    assert (await quota(team)).tokens_limit == 500_000  # the row now knows the plan

    settled = await team.bill.CommitUsage(
        commit_request(team, new_id()), metadata=service_metadata(billing.settings)
    )

    assert (settled.quota.tokens_limit, settled.quota.tokens_used) == (500_000, 1_500)
    assert settled.record.usage_time.ToDatetime(UTC) <= datetime.now(UTC)


async def test_the_service_path_starts_an_unknown_workspace_on_free(billing: Billing) -> None:
    team = await billing.team()
    await team.set_plan("pro")  # the service cannot ask auth for it: no quota row yet, so free

    settled = await team.bill.CommitUsage(
        commit_request(team, new_id()), metadata=service_metadata(billing.settings)
    )

    assert (settled.quota.tokens_limit, settled.quota.tokens_used) == (50_000, 1_500)
    async with team.platform.deps.database.session() as session:
        query = select(func.count()).select_from(Quota).where(Quota.workspace_id == team.workspace_id)
        assert (await session.execute(query)).scalar_one() == 1


@pytest.mark.parametrize("missing", ["tenant_id", "workspace_id", "user_id"])
async def test_the_service_path_needs_whose_usage_it_is(billing: Billing, missing: str) -> None:
    team = await billing.team()
    request = commit_request(team, new_id())
    request.ClearField(missing)  # type: ignore[arg-type]

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await team.bill.CommitUsage(request, metadata=service_metadata(billing.settings))

    error = from_rpc_error(failure.value)
    assert (error.code, error.field) == (ErrorCode.BAD_USER_INPUT, missing)
    assert (await quota(team)).tokens_used == 0


async def test_a_user_cannot_commit_for_another_tenant(billing: Billing) -> None:
    team = await billing.team()
    other = await billing.team("Other")
    request = commit_request(team, new_id())
    request.tenant_id = other.owner.tenant_id

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await team.bill.CommitUsage(request, metadata=team.md(team.owner))

    assert from_rpc_error(failure.value).field == "tenant_id"
    assert (await quota(team)).tokens_used == 0


async def test_the_service_path_cannot_settle_another_workspaces_reservation(billing: Billing) -> None:
    team = await billing.team()
    other = await billing.team("Other")
    held = await other.bill.ReserveTokens(
        billing_pb2.ReserveTokensRequest(
            workspace_id=other.workspace_id, model_id="gpt-4", estimated_tokens=100, idempotency_key=new_id()
        ),
        metadata=other.md(other.owner),
    )

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await team.bill.CommitUsage(
            commit_request(team, new_id(), held.reservation_id), metadata=service_metadata(billing.settings)
        )

    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await quota(other)).tokens_reserved == 100


def test_a_queued_commit_must_name_its_tenant() -> None:
    request = billing_pb2.CommitUsageRequest(
        idempotency_key=new_id(), model_id="gpt-4", workspace_id=new_id(), user_id=new_id()
    )

    with pytest.raises(ValueError, match="tenant_id"):
        add_usage_commit(None, service=SERVICE, request=request)  # type: ignore[arg-type]
