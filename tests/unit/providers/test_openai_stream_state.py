"""What `_StreamState.feed` makes of the chunks an OpenAI-compatible server streams, odd ones included: its
per-token path skips work for a plain content delta, and must still read every other shape as before."""

from __future__ import annotations

from typing import Any

import pytest

from services.providers.base import StreamEnd, TextDelta, ToolCall, ToolCallDelta, Usage
from services.providers.openai import _StreamState
from services.runtime.errors import GekoError


def choice(delta: Any, **fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, **fields}], "usage": None}


def test_a_plain_content_delta_is_one_text_delta() -> None:
    assert _StreamState().feed(choice({"content": " tok"}), api_key=None) == [TextDelta(" tok")]


@pytest.mark.parametrize(
    "chunk",
    [
        choice({"content": ""}),
        choice({"content": None}),
        choice({"content": 5}),
        choice({"content": ["x"]}),
        choice(None),
        choice("text"),
        {"choices": [{"index": 1, "delta": {"content": "other choice"}}]},
        {"choices": ["not an object"]},
        {"choices": None},
        {"choices": []},
        {},
    ],
)
def test_chunks_without_text_give_nothing(chunk: dict[str, Any]) -> None:
    state = _StreamState()
    assert state.feed(chunk, api_key=None) == []
    assert state.end() == [StreamEnd("stop", None)]


def test_a_choice_without_a_delta_still_finishes_the_answer() -> None:
    state = _StreamState()
    assert state.feed({"choices": [{"index": 0, "finish_reason": "length"}]}, api_key=None) == []
    assert state.end() == [StreamEnd("length", None)]


def test_usage_is_kept_only_when_it_is_an_object_with_counts() -> None:
    state = _StreamState()
    state.feed({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}, api_key=None)
    state.feed({"choices": [], "usage": "lots"}, api_key=None)
    assert state.end() == [StreamEnd("stop", Usage(3, 2))]


def test_tool_call_fragments_and_text_in_one_chunk() -> None:
    state = _StreamState()
    first = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"a"'}}
    events = state.feed(choice({"content": "x", "tool_calls": [first, "junk"]}), api_key=None)
    assert events == [TextDelta("x")]
    rest = {"index": 0, "function": {"arguments": ": 1}"}}
    events = state.feed(choice({"tool_calls": [rest]}, finish_reason="function_call"), api_key=None)
    assert events == [ToolCallDelta(ToolCall("call_1", "f", '{"a": 1}'))]
    assert state.end() == [StreamEnd("tool_calls", None)]


def test_an_error_chunk_raises() -> None:
    with pytest.raises(GekoError):
        _StreamState().feed({"error": {"message": "overloaded", "type": "server_error"}}, api_key=None)
