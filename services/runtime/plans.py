"""The plans, cheapest first: the order they unlock things in (tenants.plan, model_catalog.min_plan,
quotas.plan, eligibility comparisons), and their names in the contracts' `geko.common.v1.Plan` enum."""

from geko.common.v1 import common_pb2
from services.runtime.settings import Settings

PLANS = ("free", "pro", "paygo")

PLAN_NAMES = {common_pb2.PLAN_FREE: "free", common_pb2.PLAN_PRO: "pro", common_pb2.PLAN_PAYGO: "paygo"}
PLAN_OF_NAME = {name: value for value, name in PLAN_NAMES.items()}


def upgrade_url(settings: Settings, workspace_id: str) -> str:
    """Where a workspace's members go to lift a denial that a higher plan lifts (quota, plan-gated model)."""
    return f"{settings.effective_public_url}/billing/upgrade?workspace={workspace_id}"
