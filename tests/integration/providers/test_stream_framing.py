"""Streamed answers whose HTTP chunks cut events, lines, line endings and UTF-8 characters anywhere, some of
them gzip-encoded, read by the real adapters over real HTTP. The server is raw asyncio so the test decides
every chunk's bytes, which an ASGI app does not."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from services.providers.base import (
    ChatMessage,
    ChatRequest,
    ProviderConfig,
    ProviderKind,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    create_adapter,
)
from services.providers.errors import STREAM_CUT
from services.runtime.errors import ErrorCode, GekoError
from tests.integration.providers.adapter_checks import client, collect
from tests.integration.providers.raw_http import raw_server, read_request

__all__ = ["client"]

REQUEST = ChatRequest("m", [ChatMessage("user", "hello")])
# Every line break `str.splitlines` knows but SSE and NDJSON do not: JSON carries them unescaped.
TRICKY = "é€𝄞 a\u2028b\u2029c\x85d"


@asynccontextmanager
async def chunked_server(
    pieces: Sequence[bytes], *, content_type: str, gzip: bool = False
) -> AsyncIterator[str]:
    """Answers every request 200 with `pieces` as the HTTP chunks of its body (gzip-encoded if asked), then
    ends the body. Yields the base URL."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        encoding = b"content-encoding: gzip\r\n" if gzip else b""
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: "
            + content_type.encode()
            + b"\r\n"
            + encoding
            + b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        )
        compressor = zlib.compressobj(wbits=31)
        for piece in pieces:
            if gzip:
                piece = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0)
        if gzip:
            tail = compressor.flush()
            writer.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with raw_server(serve) as base_url:
        yield base_url


def cut(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


async def stream(
    kind: ProviderKind, pieces: Sequence[bytes], client: httpx.AsyncClient, **server: Any
) -> list[StreamEvent]:
    content_type = "application/x-ndjson" if kind == "ollama" else "text/event-stream"
    async with chunked_server(pieces, content_type=content_type, **server) as base_url:
        base = base_url + "/v1" if kind == "openai" else base_url
        return await collect(create_adapter(ProviderConfig(kind, base, "k"), client).stream(REQUEST))


def openai_body(newline: bytes) -> bytes:
    def event(data: Any) -> bytes:
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        return b"data: " + text.encode() + newline + newline

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}
    return b"".join(
        [
            b": OPENROUTER PROCESSING" + newline + newline,
            event(chunk({"role": "assistant", "content": ""})),
            event(chunk({"content": "Hi "})),
            event(chunk({"content": TRICKY})),
            event(chunk({"tool_calls": [call]})),
            event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]})),
            event(chunk({}, "tool_calls")),
            event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
            event("[DONE]"),
        ]
    )


OPENAI_EVENTS = [
    TextDelta("Hi "),
    TextDelta(TRICKY),
    ToolCallDelta(ToolCall("c1", "f", '{"a": 1}')),
    StreamEnd("tool_calls", Usage(3, 4)),
]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 50, 100_000])
async def test_openai_events_cut_anywhere_come_out_whole(
    client: httpx.AsyncClient, newline: bytes, size: int
) -> None:
    assert await stream("openai", cut(openai_body(newline), size), client) == OPENAI_EVENTS


@pytest.mark.parametrize("size", [1, 5, 100_000])
async def test_a_gzip_encoded_stream_is_decoded(client: httpx.AsyncClient, size: int) -> None:
    assert await stream("openai", cut(openai_body(b"\n"), size), client, gzip=True) == OPENAI_EVENTS


async def test_openai_text_read_together_goes_out_as_one_delta_after_the_first(
    client: httpx.AsyncClient,
) -> None:
    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    plain = [event({"content": word}) for word in ("One", " two", " three", " four")]
    body = b"".join([*plain, event({}, "stop"), event({"content": " five"}), b"data: [DONE]\n\n"])

    assert await stream("openai", [body], client) == [
        TextDelta("One"),  # at once, before the rest is parsed
        TextDelta(" two three four"),
        TextDelta(" five"),  # after the chunk in between, in order
        StreamEnd("stop", None),
    ]


async def test_an_openai_stream_that_ends_inside_an_event_is_cut(client: httpx.AsyncClient) -> None:
    body = openai_body(b"\n")
    unfinished = body[: body.index(b"data: [DONE]") + 8]

    with pytest.raises(GekoError) as raised:
        await stream("openai", cut(unfinished, 3), client)

    assert (raised.value.code, raised.value.reason) == (ErrorCode.UPSTREAM_UNAVAILABLE, STREAM_CUT)


@pytest.mark.parametrize("size", [1, 4, 100_000])
async def test_anthropic_events_cut_anywhere_come_out_whole(client: httpx.AsyncClient, size: int) -> None:
    def event(kind: str, fields: dict[str, Any]) -> bytes:
        data = json.dumps({"type": kind, **fields}, ensure_ascii=False)
        return f"event: {kind}\r\ndata: {data}\r\n\r\n".encode()

    text = {"type": "text_delta", "text": TRICKY}
    body = b"".join(
        [
            event("message_start", {"message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}),
            event("ping", {}),
            event("content_block_delta", {"index": 0, "delta": text}),
            b": a comment\r\n\r\n",
            event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
            event("message_stop", {}),
        ]
    )

    events = await stream("anthropic", cut(body, size), client)

    assert events == [TextDelta(TRICKY), StreamEnd("stop", Usage(5, 9))]


@pytest.mark.parametrize("size", [1, 6, 100_000])
async def test_ollama_lines_cut_anywhere_come_out_whole(client: httpx.AsyncClient, size: int) -> None:
    lines = [
        {"message": {"role": "assistant", "content": "Hi "}, "done": False},
        {"message": {"role": "assistant", "content": TRICKY}, "done": False},
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "eval_count": 2,
        },
    ]
    body = b"\r\n".join(json.dumps(line, ensure_ascii=False).encode() for line in lines)  # no final newline

    events = await stream("ollama", cut(body, size), client)

    assert events == [TextDelta("Hi "), TextDelta(TRICKY), StreamEnd("stop", Usage(0, 2))]
