"""The cached catalog's price pick: the version in force at a time is the latest that started at or before it,
the same rule as the SQL of ModelRepository.prices_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.models.model import ModelCatalog, ModelPrice
from services.model.catalog_cache import CatalogEntry

START = datetime(2026, 1, 1, tzinfo=UTC)


def entry(*starts: datetime) -> CatalogEntry:
    prices = tuple(
        ModelPrice(model_id="m", input_micros_per_1k=i + 1, output_micros_per_1k=i + 1, effective_from=start)
        for i, start in enumerate(starts)
    )
    return CatalogEntry(ModelCatalog(id="m"), prices, connection=None)


def input_at(found: CatalogEntry, at: datetime) -> int | None:
    price = found.price_at(at)
    return price.input_micros_per_1k if price is not None else None


def test_the_price_in_force_is_the_latest_started_at_or_before_the_time() -> None:
    later = START + timedelta(days=30)
    found = entry(START, later)

    assert input_at(found, START - timedelta(microseconds=1)) is None
    assert input_at(found, START) == 1
    assert input_at(found, later - timedelta(microseconds=1)) == 1
    assert input_at(found, later) == 2
    assert input_at(found, later + timedelta(days=365)) == 2


def test_a_model_without_prices_has_none_in_force() -> None:
    assert entry().price_at(START) is None
