"""The tenant plan cache behind `WorkspaceAccess.tenant_plan()` (services/runtime/plan_cache.py), through the
services that read it over real gRPC: billing (the quota's plan) and model (eligibility). Auth + workspace +
model share one server and billing has its own (tests/integration/billing/harness.py); SQLite with in-process
backends, or PostgreSQL with Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from geko.auth.v1 import auth_pb2
from geko.billing.v1 import billing_pb2
from geko.common.v1 import common_pb2
from services.auth import admin
from services.runtime.backends import create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.plan_cache import PlanCache
from services.runtime.plans import PLAN_NAMES
from services.runtime.secrets import SecretBox
from services.runtime.server import ServiceDeps
from tests.integration.auth.harness import SECRET_KEY, database_url
from tests.integration.billing.harness import BillingPlatform, BillingTeam, billing_platform
from tests.integration.model.harness import model_platform

__all__ = ["billing_platform", "database_url", "model_platform"]


async def quota_plan(team: BillingTeam) -> int:
    answer = await team.bill.GetQuota(
        billing_pb2.GetQuotaRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
    )
    return int(answer.quota.plan)


async def gpt4_usable(team: BillingTeam) -> bool:
    return bool((await team.eligible())["gpt-4"].usable)


async def test_an_upgrade_through_auth_is_seen_by_billing_and_model_at_once(
    billing_platform: BillingPlatform,
) -> None:
    team = await billing_platform.team()
    assert await quota_plan(team) == common_pb2.PLAN_FREE
    assert not await gpt4_usable(team)  # both services now hold "free"

    await admin.set_plan(team.platform.deps, team.owner.email, "pro")

    assert await quota_plan(team) == common_pb2.PLAN_PRO
    assert await gpt4_usable(team)

    await admin.set_plan(team.platform.deps, team.owner.tenant_id, "free")

    assert not await gpt4_usable(team)


async def test_tenants_never_see_each_others_plan(billing_platform: BillingPlatform) -> None:
    upgraded = await billing_platform.team("Upgraded Co")
    other = await billing_platform.team("Other Co")
    assert [await quota_plan(upgraded), await quota_plan(other)] == [common_pb2.PLAN_FREE] * 2

    await admin.set_plan(upgraded.platform.deps, upgraded.owner.email, "paygo")

    for _ in range(2):  # a miss, then the cached entry
        assert await quota_plan(upgraded) == common_pb2.PLAN_PAYGO
        assert await quota_plan(other) == common_pb2.PLAN_FREE
        assert await gpt4_usable(upgraded)
        assert not await gpt4_usable(other)


@pytest.mark.parametrize("plan", ["free", "pro", "paygo"])
async def test_the_cached_plan_is_the_one_get_me_gives(billing_platform: BillingPlatform, plan: str) -> None:
    team = await billing_platform.team()
    await admin.set_plan(team.platform.deps, team.owner.email, plan)

    assert await quota_plan(team) == await quota_plan(team)  # the second answer is the cached one
    me = await team.platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=team.md(team.owner))
    plans = PlanCache(team.platform.deps.backends.cache)
    cached = await plans.get(team.owner.tenant_id, await plans.generation(team.owner.tenant_id))

    assert cached == PLAN_NAMES[me.user.tenant.plan] == plan
    assert await quota_plan(team) == me.user.tenant.plan


async def test_an_admin_action_beside_the_platform_in_its_process_is_seen_at_once(
    billing_platform: BillingPlatform, database_url: str, tmp_path: Path
) -> None:
    """In-process caches are the process's: an admin's own dependencies (as `geko admin` makes them, with a
    cache of their own) bump the generation the running services read."""
    platform = billing_platform.platform
    if platform.deps.backends.kind != "memory":
        pytest.skip("with Redis every process shares one cache anyway")
    team = await billing_platform.team()
    assert not await gpt4_usable(team)
    settings = platform.settings.model_copy(update={"data_dir": tmp_path})
    deps = ServiceDeps(
        settings=settings,
        database=Database(database_url),
        backends=create_backends(None),
        channels=Channels(settings),
        secret_box=SecretBox(SECRET_KEY.encode()),
    )
    try:
        await admin.set_plan(deps, team.owner.email, "pro")
    finally:
        await deps.aclose()

    assert await gpt4_usable(team)
    assert await quota_plan(team) == common_pb2.PLAN_PRO
