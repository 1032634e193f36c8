"""Answers held in process memory count only under the generation they were read after, within the TTL."""

from __future__ import annotations

from services.model.process_memo import MAX_ENTRIES, ProcessMemo


def test_a_held_answer_counts_only_under_its_generation_and_within_the_ttl() -> None:
    now = [0.0]
    memo: ProcessMemo[str, str] = ProcessMemo(ttl_seconds=10.0, clock=lambda: now[0])
    memo.put("ws", 3, "settings")

    assert memo.get("ws", 3) == "settings"
    assert memo.get("ws", 4) is None  # bumped after a commit
    assert memo.get("other", 3) is None
    now[0] = 9.9
    assert memo.get("ws", 3) == "settings"
    now[0] = 10.0
    assert memo.get("ws", 3) is None


def test_the_memory_is_bounded() -> None:
    memo: ProcessMemo[int, int] = ProcessMemo()
    for key in range(MAX_ENTRIES + 1):
        memo.put(key, 0, key)

    assert memo.get(0, 0) is None  # started over when full
    assert memo.get(MAX_ENTRIES, 0) == MAX_ENTRIES
