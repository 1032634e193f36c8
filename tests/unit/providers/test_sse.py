"""The SSE decoder follows the HTML standard's event stream rules the providers rely on, whatever the chunk
boundaries of the body it reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.providers.records import Records
from services.providers.sse import SSEDecoder, SSEEvent, iter_sse


def decode(*chunks: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.end()


def every_split(body: bytes) -> list[list[bytes]]:
    """The body whole, byte by byte, and cut in two at every offset."""
    return [[body], [body[i : i + 1] for i in range(len(body))]] + [
        [body[:i], body[i:]] for i in range(1, len(body))
    ]


def test_data_lines_gather_until_a_blank_line_and_name_the_event() -> None:
    events = decode(b'event: message_start\ndata: {"a":\ndata: 1}\n\ndata: [DONE]\n\n')

    assert events == [SSEEvent("message_start", '{"a":\n1}'), SSEEvent("message", "[DONE]")]


def test_comments_ids_and_events_without_data_are_not_dispatched() -> None:
    events = decode(b": keep-alive\n\nid: 7\nretry: 100\nevent: ping\n\ndata:x\n\n")

    assert events == [SSEEvent("message", "x")]  # "data:x" without the optional space is data too


def test_only_one_leading_space_is_removed_from_a_value() -> None:
    assert decode(b"data:  two spaces\n\n") == [SSEEvent("message", " two spaces")]


def test_a_field_without_a_colon_is_a_field_with_an_empty_value() -> None:
    assert decode(b"data\n\ndata\ndata\n\n") == [SSEEvent("message", ""), SSEEvent("message", "\n")]


def test_the_event_name_does_not_carry_over_to_the_next_event() -> None:
    events = decode(b"event: error\ndata: 1\n\ndata: 2\n\n")

    assert [e.event for e in events] == ["error", "message"]


def test_extra_blank_lines_dispatch_nothing_and_a_comment_may_sit_inside_an_event() -> None:
    events = decode(b"\n\n\ndata: a\n: between\ndata: b\n\n\n\n")

    assert events == [SSEEvent("message", "a\nb")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_the_standard_names_ends_lines(ending: bytes) -> None:
    body = b"event: e" + ending + b"data: 1" + ending + b"data: 2" + ending + ending
    body += b"data: 3" + ending + ending

    for chunks in every_split(body):
        assert decode(*chunks) == [SSEEvent("e", "1\n2"), SSEEvent("message", "3")], chunks


def test_a_crlf_cut_between_its_cr_and_lf_is_one_line_ending_not_two() -> None:
    assert decode(b"data: 1\r", b"\ndata: 2\r\n\r\n") == [SSEEvent("message", "1\n2")]


def test_a_cr_at_the_very_end_still_ends_the_line_it_closes() -> None:
    assert decode(b"data: last\r\r") == [SSEEvent("message", "last")]


def test_only_cr_and_lf_break_lines_not_the_other_unicode_breaks() -> None:
    text = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg"  # JSON may carry all of these unescaped
    body = f'data: {{"t": "{text}"}}\n\n'.encode()

    assert decode(body) == [SSEEvent("message", f'{{"t": "{text}"}}')]


def test_events_and_utf8_characters_cut_at_any_byte_come_out_whole() -> None:
    body = 'data: {"t": "héllo €𝄞"}\n\nevent: x\ndata: ünï\n\n: c\n\n'.encode()

    for chunks in every_split(body):
        assert decode(*chunks) == [SSEEvent("message", '{"t": "héllo €𝄞"}'), SSEEvent("x", "ünï")]


def test_bytes_that_are_not_utf8_read_as_replacement_characters() -> None:
    assert decode(b"data: a\xffb\n\n") == [SSEEvent("message", "a\ufffdb")]


def test_a_leading_byte_order_mark_is_dropped_once() -> None:
    body = b"\xef\xbb\xbfdata: 1\n\n\xef\xbb\xbfdata: 2\n\ndata: 3\n\n"

    for chunks in every_split(body):
        # The second mark is inside the stream: its line's field is not "data".
        assert decode(*chunks) == [SSEEvent("message", "1"), SSEEvent("message", "3")], chunks


def test_several_events_in_one_chunk_come_out_in_order() -> None:
    events = decode(b"data: 1\n\ndata: 2\n\nevent: e\ndata: 3\n\ndata: 4")

    assert [e.data for e in events] == ["1", "2", "3"]  # "4" never ended


async def test_a_stream_drops_the_event_it_ends_inside() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in [b"data: whole\r\n", b"\r\n", b"data: half"]:
            yield chunk

    assert [event async for event in iter_sse(chunks())] == [SSEEvent("message", "whole")]


def test_records_cut_ndjson_lines_and_leave_the_unfinished_last_one() -> None:
    lines = Records(b"\n")

    got = lines.feed(b'{"a":1}\r') + lines.feed(b'\n{"b"') + lines.feed(b":2}\r{}\n{")
    last, rest = lines.end()

    assert (got, last, rest) == ([b'{"a":1}', b'{"b":2}', b"{}"], [], b"{")
