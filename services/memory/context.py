"""Context assembly: which stored messages a model sees, given its context window.

Pure logic over rows already read, so the budget rules are unit-tested without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from db.models.memory import Message
from services.runtime.token_estimate import estimate_tokens


def message_tokens(message: Message) -> int:
    """The stored count when the writer recorded one (a user message's prompt size is unknown, an assistant
    message's output_tokens is exact), else the chars/4 estimate of its text and tool calls. Never zero: a
    stored message has content or tool calls."""
    stored = message.output_tokens if message.role == "assistant" else 0
    return stored or max(1, estimate_tokens(message.content + message.tool_calls_json))


@dataclass(frozen=True, slots=True)
class Context:
    messages: list[Message]  # chronological; the system prompt (if any) is not among them
    system_tokens: int
    estimated_tokens: int
    truncated: bool


def assemble(history: Sequence[Message], *, system_prompt: str, budget: int) -> Context:
    """The newest messages of `history` (chronological) whose tokens fit `budget` after the system prompt,
    which is always kept even when it alone exceeds the budget. Stops at the first message that does not
    fit, so the context never has a hole in the middle of the conversation."""
    system_tokens = estimate_tokens(system_prompt)
    used = system_tokens
    kept: list[Message] = []
    for message in reversed(history):
        cost = message_tokens(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    return Context(
        messages=kept, system_tokens=system_tokens, estimated_tokens=used, truncated=len(kept) < len(history)
    )
