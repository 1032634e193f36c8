"""Title rules and the context budget, without a database."""

from __future__ import annotations

import pytest

from db.models.memory import Message
from services.memory.context import assemble, message_tokens
from services.memory.titles import title_from_message, valid_title
from services.runtime.errors import BadInput
from services.runtime.token_estimate import estimate_tokens


def _message(content: str, role: str = "user", output_tokens: int = 0, tool_calls_json: str = "") -> Message:
    return Message(
        conversation_id="c",
        role=role,
        content=content,
        output_tokens=output_tokens,
        tool_calls_json=tool_calls_json,
    )


def test_title_from_a_short_message_is_the_message_on_one_line() -> None:
    assert title_from_message("  How do\n  I  cook rice? ") == "How do I cook rice?"


def test_title_from_a_long_message_stops_at_a_word_boundary_within_80() -> None:
    title = title_from_message("lorem ipsum " * 20)
    assert len(title) <= 80
    assert not title.endswith(" ")
    assert ("lorem ipsum " * 20).startswith(title + " ")


def test_title_from_one_huge_word_is_cut_at_80() -> None:
    assert title_from_message("x" * 500) == "x" * 80


def test_valid_title_trims_and_limits_to_200() -> None:
    assert valid_title("  Trip  ") == "Trip"
    assert valid_title("t" * 200) == "t" * 200
    with pytest.raises(BadInput) as caught:
        valid_title("t" * 201)
    assert caught.value.field == "title"


def test_estimate_is_chars_over_four_rounded_up() -> None:
    assert [estimate_tokens(text) for text in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


def test_assistant_stored_count_beats_the_estimate() -> None:
    assert message_tokens(_message("x" * 400, role="assistant", output_tokens=7)) == 7
    assert message_tokens(_message("x" * 400)) == 100


def test_tool_calls_count_and_no_message_is_free() -> None:
    assert message_tokens(_message("", role="assistant", tool_calls_json='[{"id": "call_1"}]')) == 5
    assert message_tokens(_message("")) == 1


def test_assemble_keeps_the_newest_that_fit_without_holes() -> None:
    history = [_message("o" * 40), _message("m" * 400), _message("n" * 40)]  # 10, 100, 10 tokens

    context = assemble(history, system_prompt="s" * 8, budget=50)

    assert [message.content[0] for message in context.messages] == ["n"]  # "o" would fit, but after a hole
    assert (context.system_tokens, context.estimated_tokens, context.truncated) == (2, 12, True)


def test_system_prompt_is_kept_even_over_budget() -> None:
    context = assemble([_message("hello")], system_prompt="s" * 400, budget=10)
    assert context.messages == []
    assert context.estimated_tokens == 100
    assert context.truncated
