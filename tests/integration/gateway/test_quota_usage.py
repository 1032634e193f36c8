"""A workspace's quota and monthly usage through GraphQL on the embedded platform. Usage is made the way chat
makes it: BillingService.ReserveTokens then CommitUsage over gRPC with the member's token (the cost comes from
ModelService.GetEffectivePrice). Limits, permissions and month parsing are billing's; these tests pin what the
gateway shows of them: the numbers, null for unlimited, integer micros, and the errors' codes and fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from db.seed import MODEL_CATALOG
from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from geko.chat.v1 import chat_pb2
from geko.common.v1 import common_pb2
from graphql_gateway.billing.types import Quota
from graphql_gateway.common import Plan
from services.billing.ledger import month_key, next_month_start
from services.runtime.ids import new_id
from tests.integration.gateway.team import Member, TeamGateway, team_gateway
from tests.integration.gateway.test_workspace_api import batch_get_users_calls

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUOTA = """query($id: ID!) { workspace(id: $id) { quota {
  plan tokensLimit tokensUsed tokensReserved tokensRemaining requestsLimit requestsUsed percentUsed warning
  resetAt upgradeUrl
} } }"""
USAGE = """query($id: ID!, $month: String) { workspace(id: $id) { usage(month: $month) {
  month tokens inputTokens outputTokens requests costMicros currency
  perModel { modelId tokens inputTokens outputTokens costMicros }
  perUser { userId user { id email } tokens inputTokens outputTokens costMicros }
  daily { date tokens inputTokens outputTokens costMicros }
} } }"""

MINI, GPT4 = "gpt-4o-mini", "gpt-4"
PRICE_PER_1K = {model.id: model.micros_per_1k for model in MODEL_CATALOG}


@dataclass
class Turn:
    """One settled turn: who, which model, the real counts."""

    member: Member
    model: str
    input_tokens: int
    output_tokens: int

    @property
    def cost(self) -> int:
        return (self.input_tokens + self.output_tokens) * PRICE_PER_1K[self.model] // 1000


@dataclass
class Scene:
    gateway: TeamGateway
    billing: billing_pb2_grpc.BillingServiceStub
    owner: Member
    editor: Member
    viewer: Member
    workspace_id: str  # where TURNS were settled this month
    turns: list[Turn]

    async def reserve(self, member: Member, workspace_id: str, model: str, tokens: int) -> str:
        request = billing_pb2.ReserveTokensRequest(
            workspace_id=workspace_id, model_id=model, estimated_tokens=tokens, idempotency_key=new_id()
        )
        answer = await self.billing.ReserveTokens(request, metadata=bearer(member))
        return answer.reservation_id

    async def settle(self, workspace_id: str, turn: Turn) -> None:
        """Reserves the turn's tokens and commits its counts, as chat does."""
        tokens = turn.input_tokens + turn.output_tokens
        reservation_id = await self.reserve(turn.member, workspace_id, turn.model, tokens)
        request = billing_pb2.CommitUsageRequest(
            reservation_id=reservation_id,
            idempotency_key=new_id(),
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            model_id=turn.model,
            workspace_id=workspace_id,
        )
        await self.billing.CommitUsage(request, metadata=bearer(turn.member))

    async def quota(self, workspace_id: str, member: Member | None = None) -> dict[str, Any]:
        data = await self.gateway.data(QUOTA, (member or self.owner).token, id=workspace_id)
        quota: dict[str, Any] = data["workspace"]["quota"]
        return quota


def bearer(member: Member) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {member.token}")]


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Scene]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir: Path = tmp_path_factory.mktemp("quota-usage")
    async with (
        team_gateway(database_url, data_dir, redis_url if use_redis else None) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.platform.grpc_port}") as channel,
    ):
        owner = await gateway.register("Acme")
        workspace_id = await gateway.create_workspace(owner.token, "Metered")
        editor = await gateway.join_new(owner.token, workspace_id, "editor", name="Eve Editor")
        viewer = await gateway.join_new(owner.token, workspace_id, "viewer", name="Vic Viewer")
        # 40,000 tokens of the free plan's 50,000: exactly the 80% warning.
        turns = [
            Turn(owner, MINI, 20_000, 10_000),
            Turn(editor, GPT4, 1_234, 567),
            Turn(owner, GPT4, 6_001, 2_198),
        ]
        billing = billing_pb2_grpc.BillingServiceStub(channel)
        scene = Scene(gateway, billing, owner, editor, viewer, workspace_id, turns)
        for turn in turns:
            await scene.settle(workspace_id, turn)
        yield scene


async def test_a_fresh_workspace_has_the_free_plans_whole_quota(scene: Scene) -> None:
    workspace_id = await scene.gateway.create_workspace(scene.owner.token, "Fresh")

    quota = await scene.quota(workspace_id)

    assert quota == {
        "plan": "FREE",
        "tokensLimit": 50_000,
        "tokensUsed": 0,
        "tokensReserved": 0,
        "tokensRemaining": 50_000,
        "requestsLimit": 100,
        "requestsUsed": 0,
        "percentUsed": 0.0,
        "warning": False,
        "resetAt": next_month_start(datetime.now(UTC)).isoformat(),
        "upgradeUrl": quota["upgradeUrl"],
    }
    assert workspace_id in quota["upgradeUrl"]


async def test_quota_counts_commits_and_warns_at_80_percent(scene: Scene) -> None:
    for member in (scene.owner, scene.viewer):
        quota = await scene.quota(scene.workspace_id, member)
        assert (quota["tokensUsed"], quota["tokensRemaining"], quota["requestsUsed"]) == (40_000, 10_000, 3)
        assert (quota["percentUsed"], quota["warning"]) == (80.0, True)


async def test_the_warning_starts_at_80_percent_not_before(scene: Scene) -> None:
    workspace_id = await scene.gateway.create_workspace(scene.owner.token, "Edge")
    await scene.settle(workspace_id, Turn(scene.owner, MINI, 30_000, 9_999))
    below = await scene.quota(workspace_id)
    await scene.settle(workspace_id, Turn(scene.owner, MINI, 1, 0))
    at = await scene.quota(workspace_id)

    assert (below["tokensUsed"], below["warning"]) == (39_999, False)
    assert below["percentUsed"] < 80
    assert (at["tokensUsed"], at["percentUsed"], at["warning"]) == (40_000, 80.0, True)


async def test_a_turn_in_flight_holds_tokens_and_a_request(scene: Scene) -> None:
    workspace_id = await scene.gateway.create_workspace(scene.owner.token, "In flight")

    await scene.reserve(scene.owner, workspace_id, MINI, 1_500)
    quota = await scene.quota(workspace_id)

    assert (quota["tokensUsed"], quota["tokensReserved"], quota["tokensRemaining"]) == (0, 1_500, 48_500)
    assert quota["requestsUsed"] == 1


async def test_usage_sums_equal_the_commits_per_model_user_and_day(scene: Scene) -> None:
    before = batch_get_users_calls()
    usage = (await scene.gateway.data(USAGE, scene.owner.token, id=scene.workspace_id))["workspace"]["usage"]
    assert batch_get_users_calls() - before == 1

    turns, today = scene.turns, datetime.now(UTC)
    cost = sum(turn.cost for turn in turns)
    assert cost > 0
    assert usage | {"perModel": [], "perUser": [], "daily": []} == {
        "month": month_key(today),
        "tokens": 40_000,
        "inputTokens": sum(turn.input_tokens for turn in turns),
        "outputTokens": sum(turn.output_tokens for turn in turns),
        "requests": 3,
        "costMicros": cost,
        "currency": "USD",
        "perModel": [],
        "perUser": [],
        "daily": [],
    }

    def share(selected: list[Turn]) -> dict[str, int]:
        return {
            "tokens": sum(turn.input_tokens + turn.output_tokens for turn in selected),
            "inputTokens": sum(turn.input_tokens for turn in selected),
            "outputTokens": sum(turn.output_tokens for turn in selected),
            "costMicros": sum(turn.cost for turn in selected),
        }

    per_model = {row.pop("modelId"): row for row in usage["perModel"]}
    assert per_model == {model: share([t for t in turns if t.model == model]) for model in (MINI, GPT4)}
    per_user = {row.pop("userId"): row for row in usage["perUser"]}
    assert per_user == {
        member.user_id: {
            "user": {"id": member.user_id, "email": member.email},
            **share([t for t in turns if t.member is member]),
        }
        for member in (scene.owner, scene.editor)
    }
    assert usage["daily"] == [{"date": today.date().isoformat(), **share(turns)}]


async def test_usage_defaults_to_this_month_and_is_empty_for_a_month_without_turns(scene: Scene) -> None:
    this_month = month_key(datetime.now(UTC))
    omitted = await scene.gateway.data(USAGE, scene.owner.token, id=scene.workspace_id)
    named = await scene.gateway.data(USAGE, scene.owner.token, id=scene.workspace_id, month=this_month)
    assert omitted == named

    past = (await scene.gateway.data(USAGE, scene.owner.token, id=scene.workspace_id, month="2020-01"))[
        "workspace"
    ]["usage"]
    assert (past["month"], past["tokens"], past["requests"], past["costMicros"]) == ("2020-01", 0, 0, 0)
    assert (past["perModel"], past["perUser"], past["daily"]) == ([], [], [])


@pytest.mark.parametrize("month", ["2026-13", "May", "2026-5-1"])
async def test_a_bad_month_is_bad_user_input_naming_month(scene: Scene, month: str) -> None:
    body = await scene.gateway.graphql(USAGE, scene.owner.token, id=scene.workspace_id, month=month)

    assert error_of(body) == {"code": "BAD_USER_INPUT", "field": "month"}


async def test_members_without_usage_view_workspace_are_forbidden_usage_but_see_the_quota(
    scene: Scene,
) -> None:
    for member in (scene.viewer, scene.editor):
        assert await scene.gateway.code(USAGE, member.token, id=scene.workspace_id) == "FORBIDDEN"
        assert (await scene.quota(scene.workspace_id, member))["tokensUsed"] == 40_000


async def test_another_tenant_sees_neither_quota_nor_usage(scene: Scene) -> None:
    stranger = await scene.gateway.register("Rival")

    assert await scene.gateway.code(QUOTA, stranger.token, id=scene.workspace_id) == "NOT_FOUND"
    assert await scene.gateway.code(USAGE, stranger.token, id=scene.workspace_id) == "NOT_FOUND"


async def test_quota_from_either_proto_shows_unlimited_as_null() -> None:
    unlimited = Quota.from_proto(
        billing_pb2.Quota(
            plan=common_pb2.PLAN_PAYGO, tokens_limit=-1, tokens_remaining=-1, requests_limit=-1, tokens_used=7
        )
    )
    from_chat = Quota.from_proto(
        chat_pb2.QuotaState(
            plan=common_pb2.PLAN_FREE, tokens_limit=50_000, tokens_remaining=10_000, warning=True
        )
    )

    assert (unlimited.plan, unlimited.tokens_limit, unlimited.tokens_remaining) == (Plan.PAYGO, None, None)
    assert (unlimited.requests_limit, unlimited.tokens_used, unlimited.upgrade_url) == (None, 7, None)
    assert (from_chat.plan, from_chat.tokens_limit, from_chat.tokens_remaining) == (Plan.FREE, 50_000, 10_000)
    assert (from_chat.tokens_reserved, from_chat.warning) == (0, True)
