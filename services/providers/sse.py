"""Server-sent events, as the HTML standard defines them (https://html.spec.whatwg.org/multipage/server-sent-events.html),
read from the lines of a streamed HTTP body. OpenAI and Anthropic both stream this way."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    event: str  # "message" when the server named none
    data: str


class SSEDecoder:
    """Turns lines (without their line endings) into events: `data` lines gather, a blank line dispatches,
    `:` lines are comments. An event the stream ends in the middle of is dropped, as the standard says."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        return SSEEvent(event, "\n".join(data)) if data else None


async def iter_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSEEvent]:
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event
