"""The Ollama adapter's pure parts: its `/api/chat` body, and how pull progress folds into totals."""

from __future__ import annotations

import pytest

from services.providers.base import ChatMessage, ChatRequest, ToolCall
from services.providers.ollama import PullProgress, PullTotals, PullTracker, chat_body
from services.runtime.errors import BadInput


def layer(digest: str, total: int, completed: int | None) -> PullProgress:
    return PullProgress(status=f"pulling {digest}", digest=digest, total=total, completed=completed)


def status(text: str) -> PullProgress:
    return PullProgress(status=text, digest=None, total=None, completed=None)


class TestChatBody:
    def test_options_are_left_out_when_nothing_is_set(self) -> None:
        body = chat_body(ChatRequest(model="m", messages=[ChatMessage("user", "hi")]), stream=True)
        assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    def test_a_zero_temperature_is_still_sent(self) -> None:
        request = ChatRequest(model="m", messages=[], temperature=0.0, max_output_tokens=1)
        assert chat_body(request, stream=False)["options"] == {"num_predict": 1, "temperature": 0.0}

    def test_a_tool_answer_to_an_unknown_call_goes_without_a_name(self) -> None:
        request = ChatRequest(model="m", messages=[ChatMessage("tool", "42", tool_call_id="call_x")])
        assert chat_body(request, stream=True)["messages"] == [{"role": "tool", "content": "42"}]

    def test_tool_call_arguments_that_are_not_json_are_bad_input_naming_the_field(self) -> None:
        call = ToolCall(id="call_1", name="f", arguments_json="{not json")
        request = ChatRequest(model="m", messages=[ChatMessage("assistant", "", tool_calls=(call,))])
        with pytest.raises(BadInput) as caught:
            chat_body(request, stream=True)
        assert caught.value.field == "messages.tool_calls.arguments_json"

    def test_empty_arguments_are_an_empty_object(self) -> None:
        call = ToolCall(id="call_1", name="now", arguments_json="")
        request = ChatRequest(model="m", messages=[ChatMessage("assistant", "", tool_calls=(call,))])
        [message] = chat_body(request, stream=True)["messages"]
        assert message["tool_calls"] == [{"function": {"name": "now", "arguments": {}}}]


class TestPullTracker:
    def test_layers_add_up_and_a_smaller_repeat_count_does_not_move_back(self) -> None:
        tracker = PullTracker()
        tracker.update(status("pulling manifest"))
        tracker.update(layer("a", 100, None))
        tracker.update(layer("b", 300, 150))
        assert tracker.update(layer("a", 100, 50)) == PullTotals("downloading", 200, 400, 50)
        # a retried part reports less than before: nothing goes back
        assert tracker.update(layer("a", 100, 20)) == PullTotals("downloading", 200, 400, 50)

    def test_a_layer_that_appears_late_does_not_lower_the_percent(self) -> None:
        tracker = PullTracker()
        assert tracker.update(layer("a", 100, 80)).percent == 80
        late = tracker.update(layer("b", 900, None))
        assert late.total_bytes == 1_000
        assert late.completed_bytes == 80
        assert late.percent == 80

    def test_all_bytes_downloaded_is_99_until_ollama_says_success(self) -> None:
        tracker = PullTracker()
        assert tracker.update(layer("a", 100, 100)).percent == 99
        verifying = tracker.update(status("verifying sha256 digest"))
        assert (verifying.phase, verifying.percent) == ("verifying", 99)
        assert tracker.update(status("writing manifest")).phase == "verifying"
        assert tracker.update(status("success")) == PullTotals("success", 100, 100, 100)

    def test_a_count_above_the_total_is_capped(self) -> None:
        totals = PullTracker().update(layer("a", 100, 250))
        assert (totals.completed_bytes, totals.total_bytes) == (100, 100)

    def test_nothing_known_yet_is_zero_percent(self) -> None:
        assert PullTracker().update(status("pulling manifest")) == PullTotals("downloading", 0, 0, 0)
