"""The SSE decoder follows the HTML standard's event stream rules the providers rely on."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.providers.sse import SSEDecoder, SSEEvent, iter_sse


def feed_all(lines: list[str]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return [event for line in lines if (event := decoder.feed(line)) is not None]


def test_data_lines_gather_until_a_blank_line_and_name_the_event() -> None:
    events = feed_all(["event: message_start", 'data: {"a":', "data: 1}", "", "data: [DONE]", ""])

    assert events == [SSEEvent("message_start", '{"a":\n1}'), SSEEvent("message", "[DONE]")]


def test_comments_ids_and_events_without_data_are_not_dispatched() -> None:
    events = feed_all([": keep-alive", "", "id: 7", "retry: 100", "event: ping", "", "data:x", ""])

    assert events == [SSEEvent("message", "x")]  # "data:x" without the optional space is data too


def test_only_one_leading_space_is_removed_from_a_value() -> None:
    assert feed_all(["data:  two spaces", ""]) == [SSEEvent("message", " two spaces")]


def test_the_event_name_does_not_carry_over_to_the_next_event() -> None:
    events = feed_all(["event: error", "data: 1", "", "data: 2", ""])

    assert [e.event for e in events] == ["error", "message"]


async def test_a_stream_drops_the_event_it_ends_inside_and_strips_line_endings() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in ["data: whole\r\n", "\r\n", "data: half"]:
            yield line

    assert [event async for event in iter_sse(lines())] == [SSEEvent("message", "whole")]
