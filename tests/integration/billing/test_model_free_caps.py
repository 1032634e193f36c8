"""Per-model free caps: on the free plan, a model's tokens this month (committed + held + the new estimate)
may not pass the cap the chat service passes from ResolveModel; other plans and other models are not bound."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from geko.billing.v1 import billing_pb2
from services.runtime.errors import ErrorCode, GekoError, from_rpc_error
from services.runtime.ids import new_id
from tests.integration.billing.harness import BillingPlatform, BillingTeam

CAP = 1_000


async def reserve(
    team: BillingTeam, tokens: int, *, cap: int = CAP, model_id: str = "gpt-4", key: str = ""
) -> billing_pb2.ReserveTokensResponse:
    return await team.bill.ReserveTokens(
        billing_pb2.ReserveTokensRequest(
            workspace_id=team.workspace_id,
            model_id=model_id,
            estimated_tokens=tokens,
            idempotency_key=key or new_id(),
            model_free_tokens_cap=cap,
        ),
        metadata=team.md(team.owner),
    )


async def refused(team: BillingTeam, tokens: int, *, cap: int = CAP) -> GekoError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await reserve(team, tokens, cap=cap)
    return from_rpc_error(failure.value)


async def quota(team: BillingTeam) -> billing_pb2.Quota:
    answer = await team.bill.GetQuota(
        billing_pb2.GetQuotaRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
    )
    return answer.quota


async def test_committed_and_held_tokens_count_toward_the_cap(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    key = new_id()
    held = await reserve(team, 700, key=key)
    await team.bill.CommitUsage(
        billing_pb2.CommitUsageRequest(
            reservation_id=held.reservation_id,
            idempotency_key=key,
            input_tokens=400,
            output_tokens=200,
            model_id="gpt-4",
            workspace_id=team.workspace_id,
        ),
        metadata=team.md(team.owner),
    )
    await reserve(team, 300)  # 600 committed + 300 held

    error = await refused(team, 101)

    assert error.code == ErrorCode.QUOTA_EXCEEDED
    assert error.reason == "MODEL_FREE_CAP"
    assert "gpt-4" in error.message
    assert error.upgrade_url.endswith(f"/billing/upgrade?workspace={team.workspace_id}")
    found = await quota(team)
    assert (found.tokens_used, found.tokens_reserved, found.requests_used) == (600, 300, 2)  # nothing held
    assert (await reserve(team, 100)).reserved_tokens == 100  # exactly at the cap


async def test_the_cap_is_per_model(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    await reserve(team, CAP)

    other = await reserve(team, CAP, model_id="gpt-3.5-turbo")

    assert other.reserved_tokens == CAP
    assert (await refused(team, 1)).reason == "MODEL_FREE_CAP"


async def test_no_cap_or_a_paid_plan_is_not_bound(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()
    await reserve(team, CAP)
    assert (await reserve(team, CAP, cap=0)).reserved_tokens == CAP  # 0: the model has no cap

    await team.set_plan("pro")

    assert (await reserve(team, 5 * CAP)).reserved_tokens == 5 * CAP


async def test_a_negative_cap_names_the_field(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()

    error = await refused(team, 10, cap=-1)

    assert (error.code, error.field) == (ErrorCode.BAD_USER_INPUT, "model_free_tokens_cap")


async def test_concurrent_reservations_never_pass_the_cap(billing_platform: BillingPlatform) -> None:
    team = await billing_platform.team()

    results = await asyncio.gather(*(reserve(team, 150) for _ in range(20)), return_exceptions=True)

    granted = [r for r in results if isinstance(r, billing_pb2.ReserveTokensResponse)]
    refusals = [from_rpc_error(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(granted) == CAP // 150
    assert len(refusals) == 20 - len(granted)
    assert {error.reason for error in refusals} == {"MODEL_FREE_CAP"}
    found = await quota(team)
    assert (found.tokens_reserved, found.requests_used) == (150 * len(granted), len(granted))
