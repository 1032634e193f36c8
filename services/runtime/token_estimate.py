"""The one token estimate used where no tokenizer or provider count is at hand: prompt sizes for reservations,
context budgets, and the output of a stream cut before the provider reported its usage.

A token is taken as four characters (the usual rule of thumb for English with BPE tokenizers; it
overestimates code less than it underestimates CJK, which a tokenizer will fix later).
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """chars/4, rounded up; any non-empty text costs at least one token."""
    return -(-len(text) // CHARS_PER_TOKEN)
