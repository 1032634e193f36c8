"""Answers kept in this process's memory under a generation of the shared cache (generation_cache.py).

The caller reads the scope's generation from the shared cache first (one lookup; Redis across replicas), and
an answer held here counts only under that same generation: the owner's bump right after a commit makes every
replica's copy a miss on its next call, and nothing has to be decoded on a hit. An answer is also dropped
after `ttl_seconds`, which bounds what a bump cannot reach: a write by another process straight to the
database, or a generation counter that restarted (a flushed Redis) and climbed back to a number held here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

TTL_SECONDS = 30.0
MAX_ENTRIES = 10_000  # past this the memory starts over: a bound, not an eviction policy worth its code


@dataclass(frozen=True, slots=True)
class _Held(Generic[V]):
    generation: int
    expires_at: float
    value: V


class ProcessMemo(Generic[K, V]):
    def __init__(self, ttl_seconds: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock  # seconds; tests pass their own to cross the TTL
        self._held: dict[K, _Held[V]] = {}

    def get(self, key: K, generation: int) -> V | None:
        held = self._held.get(key)
        if held is None or held.generation != generation or self._clock() >= held.expires_at:
            return None
        return held.value

    def put(self, key: K, generation: int, value: V) -> None:
        """Hold `value`, read from the database after `generation` was read."""
        if len(self._held) >= MAX_ENTRIES:
            self._held.clear()
        self._held[key] = _Held(generation, self._clock() + self._ttl, value)
