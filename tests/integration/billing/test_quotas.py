"""Quotas, reservations and the ledger over real gRPC (SQLite, and PostgreSQL marked integration)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import select, update

from db.models.billing import Quota, Reservation
from geko.billing.v1 import billing_pb2
from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2
from services.billing.ledger import RESERVATION_TTL, month_start, next_month_start, sweep_expired
from services.runtime.errors import ErrorCode, from_rpc_error
from services.runtime.ids import new_id
from tests.integration.billing.harness import BillingPlatform, BillingTeam

GPT4_MICROS_PER_1K = 30_000  # the seed's launch price of gpt-4, input and output alike


async def reserve(team: BillingTeam, tokens: int, key: str) -> billing_pb2.ReserveTokensResponse:
    return await team.bill.ReserveTokens(
        billing_pb2.ReserveTokensRequest(
            workspace_id=team.workspace_id, model_id="gpt-4", estimated_tokens=tokens, idempotency_key=key
        ),
        metadata=team.md(team.owner),
    )


async def quota(team: BillingTeam) -> billing_pb2.Quota:
    answer = await team.bill.GetQuota(
        billing_pb2.GetQuotaRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
    )
    return answer.quota


async def commit(
    team: BillingTeam, reservation_id: str, key: str, input_tokens: int, output_tokens: int
) -> billing_pb2.CommitUsageResponse:
    return await team.bill.CommitUsage(
        billing_pb2.CommitUsageRequest(
            reservation_id=reservation_id,
            idempotency_key=key,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model_id="gpt-4",
            workspace_id=team.workspace_id,
        ),
        metadata=team.md(team.owner),
    )


@pytest.mark.parametrize(
    ("plan", "tokens", "requests", "proto_plan"),
    [
        ("free", 50_000, 100, common_pb2.PLAN_FREE),
        ("pro", 500_000, 10_000, common_pb2.PLAN_PRO),
        ("paygo", -1, -1, common_pb2.PLAN_PAYGO),
    ],
)
async def test_quota_comes_from_the_tenants_plan(
    billing_platform: BillingPlatform, plan: str, tokens: int, requests: int, proto_plan: int
) -> None:
    team = await billing_platform.team()
    await team.set_plan(plan)

    found = await quota(team)

    assert (found.plan, found.tokens_limit, found.requests_limit) == (proto_plan, tokens, requests)
    assert (found.tokens_used, found.tokens_reserved, found.requests_used, found.warning) == (0, 0, 0, False)
    assert found.reset_time.ToDatetime(UTC) == next_month_start(datetime.now(UTC))
    assert found.tokens_remaining == (-1 if plan == "paygo" else tokens)


async def test_reserve_within_the_limit_holds_tokens_and_a_request(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()

    held = await reserve(team, 1_000, key)
    again = await reserve(team, 1_000, key)

    assert held.reserved_tokens == 1_000
    assert again.reservation_id == held.reservation_id
    assert held.expire_time.ToDatetime(UTC) > datetime.now(UTC)
    found = await quota(team)
    assert (found.tokens_reserved, found.requests_used, found.tokens_remaining) == (1_000, 1, 49_000)


async def test_exceeding_the_limit_is_quota_exceeded_and_holds_nothing(
    billing_platform: BillingPlatform,
) -> None:
    team = await billing_platform.team()
    key = new_id()
    await reserve(team, 40_000, key)

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await reserve(team, 10_001, new_id())

    error = from_rpc_error(failure.value)
    assert error.code == ErrorCode.QUOTA_EXCEEDED
    assert error.reason == "TOKENS"
    assert error.upgrade_url == (
        f"{team.platform.settings.effective_public_url}/billing/upgrade?workspace={team.workspace_id}"
    )
    found = await quota(team)
    assert (found.tokens_reserved, found.requests_used) == (40_000, 1)


async def test_commit_settles_to_real_counts_with_ledger_and_cost(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 2_000, key)

    settled = await commit(team, held.reservation_id, key, 1_000, 500)

    assert not settled.duplicate
    assert settled.record.cost_micros == (1_000 + 500) * GPT4_MICROS_PER_1K // 1000
    assert (settled.quota.tokens_used, settled.quota.tokens_reserved, settled.quota.requests_used) == (
        1_500,
        0,
        1,
    )
    usage = await team.bill.GetUsage(
        billing_pb2.GetUsageRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
    )
    assert (usage.input_tokens, usage.output_tokens, usage.requests, usage.cost_micros) == (
        1_000,
        500,
        1,
        45_000,
    )
    assert [(m.model_id, m.cost_micros) for m in usage.per_model] == [("gpt-4", 45_000)]
    assert [(u.user_id, u.input_tokens) for u in usage.per_user] == [(team.owner.user_id, 1_000)]
    assert [d.date for d in usage.daily] == [datetime.now(UTC).date().isoformat()]


async def test_commit_replayed_counts_once(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 2_000, key)

    answers = [await commit(team, held.reservation_id, key, 1_000, 500) for _ in range(3)]

    assert [a.duplicate for a in answers] == [False, True, True]
    assert len({a.record.id for a in answers}) == 1
    found = await quota(team)
    assert (found.tokens_used, found.requests_used) == (1_500, 1)


async def test_warning_at_eighty_percent(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 40_000, key)

    settled = await commit(team, held.reservation_id, key, 20_000, 20_000)

    assert settled.quota.warning
    assert settled.quota.percent_used == pytest.approx(80.0)


async def test_release_returns_the_reservation_once(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 5_000, key)

    for _ in range(2):
        released = await team.bill.ReleaseReservation(
            billing_pb2.ReleaseReservationRequest(reservation_id=held.reservation_id),
            metadata=team.md(team.owner),
        )
        assert (released.quota.tokens_reserved, released.quota.requests_used) == (0, 0)


async def test_concurrent_reservations_never_over_reserve(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()

    results = await asyncio.gather(
        *(reserve(team, 7_000, new_id()) for _ in range(20)), return_exceptions=True
    )

    granted = [r for r in results if isinstance(r, billing_pb2.ReserveTokensResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(granted) == 50_000 // 7_000
    assert len(refused) == 20 - len(granted)
    assert all(from_rpc_error(r).code == ErrorCode.QUOTA_EXCEEDED for r in refused)
    found = await quota(team)
    assert (found.tokens_reserved, found.requests_used) == (7_000 * len(granted), len(granted))


async def test_sweeper_releases_expired_reservations(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    await reserve(team, 5_000, key)

    swept = await sweep_expired(
        team.platform.deps.database, datetime.now(UTC) + RESERVATION_TTL + timedelta(seconds=1)
    )

    assert swept >= 1
    found = await quota(team)
    assert (found.tokens_reserved, found.requests_used) == (0, 0)


async def test_expired_reservation_still_commits(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 5_000, key)
    await sweep_expired(
        team.platform.deps.database, datetime.now(UTC) + RESERVATION_TTL + timedelta(seconds=1)
    )

    settled = await commit(team, held.reservation_id, key, 100, 100)

    assert (settled.quota.tokens_used, settled.quota.tokens_reserved, settled.quota.requests_used) == (
        200,
        0,
        1,
    )


async def test_another_tenant_is_not_found(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    other = await billing_platform.team("Other")
    held = await reserve(team, 1_000, key)

    for call in (
        other.bill.GetQuota(
            billing_pb2.GetQuotaRequest(workspace_id=team.workspace_id), metadata=other.md(other.owner)
        ),
        other.bill.ReleaseReservation(
            billing_pb2.ReleaseReservationRequest(reservation_id=held.reservation_id),
            metadata=other.md(other.owner),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await quota(team)).tokens_reserved == 1_000


async def test_bad_month_names_the_field(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await team.bill.GetUsage(
            billing_pb2.GetUsageRequest(workspace_id=team.workspace_id, month="2026-13"),
            metadata=team.md(team.owner),
        )

    assert from_rpc_error(failure.value).field == "month"


async def test_a_new_month_starts_fresh(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 2_000, key)
    await commit(team, held.reservation_id, key, 1_000, 1_000)
    async with team.platform.deps.database.transaction() as session:
        await session.execute(
            update(Quota)
            .where(Quota.workspace_id == team.workspace_id)
            .values(reset_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    found = await quota(team)

    assert (found.tokens_used, found.requests_used) == (0, 0)
    assert found.reset_time.ToDatetime(UTC) == next_month_start(datetime.now(UTC))


async def test_commit_without_a_reservation_is_still_recorded(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()

    settled = await commit(team, "", new_id(), 300, 200)

    assert settled.record.cost_micros == 500 * GPT4_MICROS_PER_1K // 1000
    assert (settled.quota.tokens_used, settled.quota.requests_used) == (500, 1)


async def test_a_member_of_another_workspace_of_the_tenant_is_not_found(
    billing_platform: BillingPlatform,
) -> None:
    team = await billing_platform.team()
    outsider = await team.person("cy")

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await team.bill.GetQuota(
            billing_pb2.GetQuotaRequest(workspace_id=team.workspace_id), metadata=team.md(outsider)
        )

    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reserve_names_a_bad_field(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await reserve(team, 0, new_id())

    assert from_rpc_error(failure.value).field == "estimated_tokens"
    assert (await quota(team)).requests_used == 0


async def test_expired_reservations_stop_counting_without_a_sweeper(
    billing_platform: BillingPlatform,
) -> None:
    team = await billing_platform.team()
    held = await reserve(team, 5_000, new_id())
    async with team.platform.deps.database.transaction() as session:
        await session.execute(
            update(Reservation)
            .where(Reservation.id == held.reservation_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    found = await quota(team)

    assert (found.tokens_reserved, found.requests_used) == (0, 0)


async def test_releasing_last_months_reservation_returns_no_request(
    billing_platform: BillingPlatform,
) -> None:
    team = await billing_platform.team()
    held = await reserve(team, 5_000, new_id())
    last_month = month_start(datetime.now(UTC)) - timedelta(days=3)
    async with team.platform.deps.database.transaction() as session:
        await session.execute(
            update(Reservation).where(Reservation.id == held.reservation_id).values(created_at=last_month)
        )
        await session.execute(
            update(Quota)
            .where(Quota.workspace_id == team.workspace_id)
            .values(reset_at=month_start(datetime.now(UTC)))
        )
    assert (await quota(team)).requests_used == 0  # the new month has begun

    released = await team.bill.ReleaseReservation(
        billing_pb2.ReleaseReservationRequest(reservation_id=held.reservation_id),
        metadata=team.md(team.owner),
    )

    assert (released.quota.tokens_reserved, released.quota.requests_used) == (0, 0)


async def test_usage_of_the_workspace_needs_usage_view_workspace(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    viewer = await team.join("viewer", name="vi")

    own = await team.bill.GetUsage(
        billing_pb2.GetUsageRequest(workspace_id=team.workspace_id, user_id=viewer.user_id),
        metadata=team.md(viewer),
    )
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await team.bill.GetUsage(
            billing_pb2.GetUsageRequest(workspace_id=team.workspace_id), metadata=team.md(viewer)
        )

    assert own.requests == 0
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_reserving_for_someone_else_is_forbidden(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    other = await team.join("editor", name="mo")

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await team.bill.ReserveTokens(
            billing_pb2.ReserveTokensRequest(
                workspace_id=team.workspace_id,
                user_id=other.user_id,
                model_id="gpt-4",
                estimated_tokens=10,
                idempotency_key=new_id(),
            ),
            metadata=team.md(team.owner),
        )

    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await quota(team)).requests_used == 0


async def test_a_member_removed_mid_turn_is_still_billed_and_only_the_reserver_settles(
    billing_platform: BillingPlatform,
) -> None:
    team = await billing_platform.team()
    member = await team.join("editor", name="mo")
    other = await team.join("editor", name="ola")
    key = new_id()
    held = await team.bill.ReserveTokens(
        billing_pb2.ReserveTokensRequest(
            workspace_id=team.workspace_id, model_id="gpt-4", estimated_tokens=1_000, idempotency_key=key
        ),
        metadata=team.md(member),
    )
    settle = billing_pb2.CommitUsageRequest(
        reservation_id=held.reservation_id,
        idempotency_key=key,
        input_tokens=300,
        output_tokens=200,
        model_id="gpt-4",
        workspace_id=team.workspace_id,
    )
    with pytest.raises(grpc.aio.AioRpcError) as stranger:
        await team.bill.CommitUsage(settle, metadata=team.md(other))
    await team.ws.RemoveMember(
        workspace_pb2.RemoveMemberRequest(workspace_id=team.workspace_id, user_id=member.user_id),
        metadata=team.md(team.owner),
    )

    settled = await team.bill.CommitUsage(settle, metadata=team.md(member))

    assert from_rpc_error(stranger.value).code == ErrorCode.NOT_FOUND
    assert (settled.record.user_id, settled.record.input_tokens + settled.record.output_tokens) == (
        member.user_id,
        500,
    )
    found = await quota(team)
    assert (found.tokens_used, found.tokens_reserved, found.requests_used) == (500, 0, 1)


async def test_a_commit_naming_another_workspace_settles_the_reservations_own(
    billing_platform: BillingPlatform,
) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 2_000, key)
    elsewhere = new_id()

    settled = await team.bill.CommitUsage(
        billing_pb2.CommitUsageRequest(
            reservation_id=held.reservation_id,
            idempotency_key=key,
            input_tokens=300,
            output_tokens=200,
            model_id="gpt-4",
            workspace_id=elsewhere,
        ),
        metadata=team.md(team.owner),
    )

    assert (settled.record.workspace_id, settled.quota.workspace_id) == (team.workspace_id, team.workspace_id)
    assert (settled.quota.tokens_used, settled.quota.tokens_reserved, settled.quota.requests_used) == (
        500,
        0,
        1,
    )
    async with team.platform.deps.database.session() as session:
        assert await session.scalar(select(Quota.id).where(Quota.workspace_id == elsewhere)) is None
