"""The plans, cheapest first: the order they unlock things in (tenants.plan, model_catalog.min_plan,
quotas.plan, eligibility comparisons)."""

PLANS = ("free", "pro", "paygo")
