"""Bodies read straight from our transport's connection (`http11.raw_body`), past httpx's iterators: the
bytes, the response counted as read, closing mid-body, and the OpenAI stream over it (connection kept for the
next turn when the answer ended, closed when the stream is closed before)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.providers.base import ChatMessage, ChatRequest, ProviderConfig, StreamEnd, TextDelta, Usage
from services.providers.http11 import raw_body
from services.providers.openai import OpenAIChatAdapter
from services.providers.transport import body_chunks, pooled_client
from tests.integration.providers.test_http11 import CHUNKED_HEAD, answer, chunked, serving

REQUEST = ChatRequest(model="m", messages=[ChatMessage("user", "hi")])


@pytest.fixture
async def ours() -> AsyncIterator[httpx.AsyncClient]:
    async with pooled_client(timeout=httpx.Timeout(5.0)) as shared:
        yield shared


def openai_events(*texts: str) -> list[bytes]:
    """The SSE events of a streamed chat completion of `texts`, then usage and [DONE]."""
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]} for text in texts
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": len(texts)}})
    return [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks] + [b"data: [DONE]\n\n"]


async def test_our_body_is_read_straight_and_counts_as_read(ours: httpx.AsyncClient) -> None:
    reply = answer(CHUNKED_HEAD + b"4\r\none \r\n", chunked(b"two"), pause=0.01)
    async with serving(reply) as (url, _), ours.stream("GET", url) as response:
        body = raw_body(response)
        assert body is not None
        assert [piece async for piece in body] == [b"one ", b"two"]
        assert response.is_stream_consumed
        with pytest.raises(httpx.StreamConsumed):
            raw_body(response)
        with pytest.raises(httpx.StreamConsumed):
            await anext(response.aiter_raw())


async def test_a_closed_response_has_no_body_left_to_read(ours: httpx.AsyncClient) -> None:
    async with serving(answer(CHUNKED_HEAD + chunked(b"x"))) as (url, _):
        async with ours.stream("GET", url) as response:
            pass
        with pytest.raises(httpx.StreamClosed):
            raw_body(response)


class Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


async def test_another_transports_body_is_read_through_httpx() -> None:
    mock = httpx.MockTransport(lambda request: httpx.Response(200, stream=Pieces([b"data: x\n\n"])))
    async with (
        httpx.AsyncClient(transport=mock) as client,
        client.stream("GET", "http://upstream.test") as response,
    ):
        assert raw_body(response) is None
        assert [piece async for piece in body_chunks(response)] == [b"data: x\n\n"]


async def test_closing_a_response_read_straight_mid_body_closes_the_connection(
    ours: httpx.AsyncClient,
) -> None:
    async with serving(answer(CHUNKED_HEAD + b"5\r\nfirst\r\n")) as (url, server):
        async with ours.stream("GET", url) as response:
            body = raw_body(response)
            assert body is not None
            assert await anext(body) == b"first"

        await asyncio.wait_for(server.eof.wait(), 2)


async def test_an_openai_answer_read_to_its_end_leaves_the_connection_for_the_next(
    ours: httpx.AsyncClient,
) -> None:
    async with serving(answer(CHUNKED_HEAD + chunked(*openai_events("Hel", "lo")))) as (url, server):
        adapter = OpenAIChatAdapter(ProviderConfig(kind="openai", base_url=url), ours)
        for _ in range(2):
            events = [event async for event in adapter.stream(REQUEST)]
            assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
            assert events[-1] == StreamEnd("stop", Usage(3, 2))
        assert (server.connections, server.eofs) == (1, 0)


async def test_an_openai_stream_closed_mid_answer_closes_the_connection(ours: httpx.AsyncClient) -> None:
    first = openai_events("Hel", "lo")[0]
    async with serving(answer(CHUNKED_HEAD + chunked(first)[:-5])) as (url, server):
        adapter = OpenAIChatAdapter(ProviderConfig(kind="openai", base_url=url), ours)
        stream = adapter.stream(REQUEST)
        assert await anext(stream) == TextDelta("Hel")
        await stream.aclose()  # type: ignore[attr-defined]

        await asyncio.wait_for(server.eof.wait(), 2)
