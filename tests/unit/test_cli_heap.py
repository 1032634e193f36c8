"""`prepare_heap_for_serving`: what start-up allocated leaves the collector's sight, what comes later does
not, and young collections run less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.cli import GC_YOUNG_THRESHOLD, prepare_heap_for_serving


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_start_up_objects_are_frozen_and_later_ones_tracked(unfrozen: None) -> None:
    early = [[] for _ in range(3)]
    assert tracked(early)
    prepare_heap_for_serving()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD > 700
    assert not tracked(early)  # the collector no longer walks what start-up left
    later = [[] for _ in range(3)]
    assert tracked(later)


def tracked(items: list[list[object]]) -> bool:
    ids = {id(item) for item in gc.get_objects()}
    return all(id(item) in ids for item in items)
