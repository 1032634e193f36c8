"""The reservation sweeper runs wherever billing is hosted and gives back crashed turns' reservations, in
workspaces whose quota nobody reads (a read would expire them itself, so these tests read the tables)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest_asyncio
from sqlalchemy import select, update

from db.models.billing import Quota, Reservation
from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from services.auth import servicer as auth_servicer
from services.billing import servicer as billing_servicer
from services.billing.ledger import sweep_expired
from services.runtime.ids import new_id
from services.runtime.server import GrpcServer
from tests.integration.auth.harness import Platform
from tests.integration.model.harness import model_team

SWEEP_SECONDS = 0.05


@pytest_asyncio.fixture
async def quick_billing(model_platform: Platform) -> AsyncIterator[billing_pb2_grpc.BillingServiceStub]:
    """Billing sweeping every SWEEP_SECONDS, through the registration's own start/stop hooks."""
    deps = model_platform.deps
    server = GrpcServer(
        [billing_servicer.create(deps, sweep_seconds=SWEEP_SECONDS)],
        token_verifier=auth_servicer.local_token_verifier(deps),
        settings=deps.settings,
    )
    port = await server.start("127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield billing_pb2_grpc.BillingServiceStub(channel)
    await channel.close()
    await server.stop(0)


async def reservation_and_quota(platform: Platform, reservation_id: str) -> tuple[Reservation, Quota]:
    async with platform.deps.database.session() as session:
        reservation = (
            await session.execute(select(Reservation).where(Reservation.id == reservation_id))
        ).scalar_one()
        quota = (
            await session.execute(select(Quota).where(Quota.workspace_id == reservation.workspace_id))
        ).scalar_one()
        return reservation, quota


async def test_the_running_sweeper_releases_an_expired_reservation(
    model_platform: Platform, quick_billing: billing_pb2_grpc.BillingServiceStub
) -> None:
    team = await model_team(model_platform)
    reserve = billing_pb2.ReserveTokensRequest(
        workspace_id=team.workspace_id, model_id="gpt-4", estimated_tokens=5_000, idempotency_key=new_id()
    )
    expired = await quick_billing.ReserveTokens(reserve, metadata=team.md(team.owner))
    reserve.idempotency_key = new_id()
    live = await quick_billing.ReserveTokens(reserve, metadata=team.md(team.owner))
    async with model_platform.deps.database.transaction() as session:
        await session.execute(
            update(Reservation)
            .where(Reservation.id == expired.reservation_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    for _ in range(400):  # bounded: 20 s at most
        reservation, quota = await reservation_and_quota(model_platform, expired.reservation_id)
        if reservation.status != "held":
            break
        await asyncio.sleep(SWEEP_SECONDS)

    assert reservation.status == "expired"
    assert (quota.tokens_reserved, quota.requests_used) == (5_000, 1)  # the live one still holds
    still, _ = await reservation_and_quota(model_platform, live.reservation_id)
    assert still.status == "held"


async def test_a_stopped_server_stops_its_sweeper(model_platform: Platform) -> None:
    deps = model_platform.deps
    registration = billing_servicer.create(deps, sweep_seconds=SWEEP_SECONDS)
    server = GrpcServer(
        [registration], token_verifier=auth_servicer.local_token_verifier(deps), settings=deps.settings
    )
    await server.start("127.0.0.1:0")
    running = [task for task in asyncio.all_tasks() if task.get_name() == "geko-reservation-sweeper"]
    await server.stop(0)

    assert len(running) == 1
    assert running[0].done()


async def test_sweeps_releases_and_reads_racing_give_each_reservation_back_once(
    model_platform: Platform, quick_billing: billing_pb2_grpc.BillingServiceStub
) -> None:
    team = await model_team(model_platform)
    held = [
        await quick_billing.ReserveTokens(
            billing_pb2.ReserveTokensRequest(
                workspace_id=team.workspace_id,
                model_id="gpt-4",
                estimated_tokens=100,
                idempotency_key=new_id(),
            ),
            metadata=team.md(team.owner),
        )
        for _ in range(10)
    ]
    async with model_platform.deps.database.transaction() as session:
        await session.execute(
            update(Reservation)
            .where(Reservation.id.in_([h.reservation_id for h in held[:5]]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    # Every path locks the quota row before reservations: no deadlock, whatever runs first.
    await asyncio.gather(
        *(sweep_expired(model_platform.deps.database) for _ in range(3)),
        *(
            quick_billing.ReleaseReservation(
                billing_pb2.ReleaseReservationRequest(reservation_id=h.reservation_id),
                metadata=team.md(team.owner),
            )
            for h in held
        ),
        *(
            quick_billing.GetQuota(
                billing_pb2.GetQuotaRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
            )
            for _ in range(5)
        ),
    )

    statuses = [(await reservation_and_quota(model_platform, h.reservation_id))[0].status for h in held]
    _, quota = await reservation_and_quota(model_platform, held[0].reservation_id)
    assert statuses[5:] == ["released"] * 5
    assert set(statuses[:5]) <= {"expired", "released"}
    assert (quota.tokens_reserved, quota.requests_used) == (0, 0)
