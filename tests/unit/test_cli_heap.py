"""`freeze_startup_heap`: what start-up allocated leaves the collector's sight, what comes later does not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.cli import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_start_up_objects_are_frozen_and_later_ones_tracked(unfrozen: None) -> None:
    early = [[] for _ in range(3)]
    assert tracked(early)
    freeze_startup_heap()
    assert gc.get_freeze_count() > 0
    assert not tracked(early)  # the collector no longer walks what start-up left
    later = [[] for _ in range(3)]
    assert tracked(later)


def tracked(items: list[list[object]]) -> bool:
    ids = {id(item) for item in gc.get_objects()}
    return all(id(item) in ids for item in items)
