"""With the in-process backend, a cached plan lives IN_PROCESS_TTL_SECONDS: that bounds how long a plan set
by another process (`geko admin set-plan` beside `geko up`, whose bump cannot reach here) stays unseen."""

from __future__ import annotations

import pytest

from services.runtime import plan_cache
from services.runtime.backends import MemoryCache
from services.runtime.plan_cache import IN_PROCESS_TTL_SECONDS, PlanCache


async def test_an_in_process_entry_lives_its_bound_and_no_longer(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(plan_cache, "_PROCESS_PLANS", MemoryCache(clock=lambda: now[0]))
    plans = PlanCache(MemoryCache())
    generation = await plans.generation("tenant")
    await plans.put("tenant", generation, "pro")

    now[0] += IN_PROCESS_TTL_SECONDS - 0.5
    kept = await plans.get("tenant", generation)
    now[0] += 1.0
    expired = await plans.get("tenant", generation)

    assert IN_PROCESS_TTL_SECONDS == 10.0
    assert kept == "pro"
    assert expired is None
