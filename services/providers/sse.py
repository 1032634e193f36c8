"""Server-sent events, as the HTML standard defines them (https://html.spec.whatwg.org/multipage/server-sent-events.html),
cut from the raw bytes of a streamed HTTP body. OpenAI and Anthropic both stream this way.

Why bytes: a 200-token answer is 200 events, and httpx's `aiter_lines` decodes text and splits lines through
two more layers per event. Here a body chunk (usually exactly one event) is recognised or split on blank lines
with a few `bytes` operations, and only a finished event's data is decoded. Lines end at CR, LF or CRLF only,
as the standard says: `aiter_lines` also broke them at U+2028, U+0085 and the other breaks of
`str.splitlines`, which JSON carries unescaped, and so failed an answer that contained one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import NamedTuple

from services.providers.records import Records

_BOM = b"\xef\xbb\xbf"


class SSEEvent(NamedTuple):
    """One dispatched event: a tuple, the cheapest immutable value to make 200 times a turn (`_new_tuple`
    makes one cheaper still than the constructor or `_make`, which each run a Python function first)."""

    event: str  # "message" when the server named none
    data: str


_new_tuple = tuple.__new__


class SSEDecoder:
    """Turns body chunks into events: `data` lines gather, a blank line dispatches, `:` lines are comments,
    `id` and `retry` are read past. An event the stream ends in the middle of is dropped, as the standard
    says."""

    def __init__(self) -> None:
        self._blocks = Records(b"\n\n")
        self._at_start = True  # a leading byte order mark is not part of the stream

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if (  # the common chunk: exactly one event of one `data` line, nothing pending before it
            chunk.startswith(b"data: ")
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk.endswith(b"\n")
            and b"\r" not in chunk
            and not self._blocks.rest
        ):
            self._at_start = False
            return [_new_tuple(SSEEvent, ("message", chunk[6:-2].decode("utf-8", "replace")))]
        return self._events(self._blocks.feed(chunk))

    def end(self) -> list[SSEEvent]:
        """The events the body's last bytes finished; an unfinished one is dropped."""
        blocks, _ = self._blocks.end()
        return self._events(blocks)

    def _events(self, blocks: list[bytes]) -> list[SSEEvent]:
        if self._at_start and blocks:
            self._at_start = False
            blocks[0] = blocks[0].removeprefix(_BOM)
        return [event for block in blocks if (event := _event(block)) is not None]


def _event(block: bytes) -> SSEEvent | None:
    """The event one block of lines (between blank lines) dispatches, if any."""
    if block.startswith(b"data: ") and b"\n" not in block:
        return _new_tuple(SSEEvent, ("message", block[6:].decode("utf-8", "replace")))
    name = b""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value
    if not data:
        return None
    return SSEEvent(name.decode("utf-8", "replace") or "message", b"\n".join(data).decode("utf-8", "replace"))


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """The events of a body read as `chunks` (see `transport.body_chunks`)."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.end():
        yield event
