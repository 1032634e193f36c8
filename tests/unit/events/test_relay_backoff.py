"""The relay's retry schedule: doubling from one second, never more than five minutes apart."""

from __future__ import annotations

from datetime import timedelta

from services.events.relay import MAX_BACKOFF, backoff


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert backoff(9) == timedelta(seconds=256)
    assert backoff(10) == MAX_BACKOFF == timedelta(minutes=5)
    assert backoff(10_000) == MAX_BACKOFF
