"""The month window and the cost rounding of the ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.billing.ledger import month_key, month_start, next_month_start, turn_cost


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 31, 23, 59, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime(2026, 11, 15, 12, 0, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_next_month_start_is_the_first_instant_of_the_next_month(
    moment: datetime, expected: datetime
) -> None:
    assert next_month_start(moment) == expected


def test_month_start_and_key() -> None:
    moment = datetime(2026, 3, 9, 8, 7, tzinfo=UTC)

    assert month_start(moment) == datetime(2026, 3, 1, tzinfo=UTC)
    assert month_key(moment) == "2026-03"


def test_turn_cost_is_integer_micros_rounded_down_once() -> None:
    # 1 input token at 1,500 micros/1k and 1 output token at 2,499 micros/1k: 3.999 micros → 3
    assert turn_cost(1, 1, 1_500, 2_499) == 3
    assert turn_cost(1_000, 500, 30_000, 30_000) == 45_000
    assert turn_cost(0, 0, 30_000, 30_000) == 0
