"""The generation rule every cached answer of workspace permissions and model settings relies on."""

from __future__ import annotations

from services.runtime.backends import MemoryCache
from services.runtime.generation_cache import GenerationCache


async def test_a_bump_hides_every_entry_of_the_scope_and_only_that_scope() -> None:
    cache = MemoryCache()
    entries = GenerationCache(cache, "perm")
    first = await entries.generation("ws1")
    await entries.put("ws1", first, b"owner", "u1")
    await entries.put("ws2", await entries.generation("ws2"), b"viewer", "u1")

    await entries.invalidate("ws1")
    after = await entries.generation("ws1")

    assert after == first + 1
    assert await entries.get("ws1", after, "u1") is None
    assert await entries.get("ws2", await entries.generation("ws2"), "u1") == b"viewer"
    # The keys other readers and older code use.
    assert await cache.get("perm:ws1:0:u1") == b"owner"
    assert await cache.get("perm-gen:ws1") == b"1"


async def test_a_scope_without_key_is_one_entry() -> None:
    cache = MemoryCache()
    entries = GenerationCache(cache, "wsmodels")
    await entries.put("ws1", 0, b"settings")

    assert await entries.get("ws1", 0) == b"settings"
    assert await cache.get("wsmodels:ws1:0") == b"settings"
