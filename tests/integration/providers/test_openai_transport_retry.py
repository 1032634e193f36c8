"""A request whose connection closes before any answer arrives (a pooled connection the upstream had already
dropped) is sent once more; a second drop is an error. The server here is raw asyncio, so it can hang up on a
request, which an ASGI app cannot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from services.providers.base import ChatMessage, ChatRequest, ProviderConfig, create_adapter
from services.runtime.errors import ErrorCode, GekoError
from tests.integration.providers.adapter_checks import client
from tests.integration.providers.raw_http import raw_server, read_request

__all__ = ["client"]

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
REQUEST = ChatRequest("gpt-4o-mini", [ChatMessage("user", "hello")])


@asynccontextmanager
async def hanging_up_server(hang_ups: int) -> AsyncIterator[tuple[str, list[str]]]:
    """Reads each request; hangs up without a word on the first `hang_ups`, answers the rest.
    Yields the base URL and the log of what happened per request."""
    log: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if len(log) < hang_ups:
            log.append("hung up")
        else:
            log.append("answered")
            body = json.dumps(ANSWER).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with raw_server(serve) as base_url:
        yield f"{base_url}/v1", log


async def test_a_connection_dropped_before_any_answer_is_retried_once(client: httpx.AsyncClient) -> None:
    async with hanging_up_server(hang_ups=1) as (base_url, log):
        adapter = create_adapter(ProviderConfig("openai", base_url, "sk-test"), client)

        completion = await adapter.complete(REQUEST)

    assert completion.text == "hi"
    assert log == ["hung up", "answered"]


async def test_a_second_drop_is_not_retried_again(client: httpx.AsyncClient) -> None:
    async with hanging_up_server(hang_ups=5) as (base_url, log):
        adapter = create_adapter(ProviderConfig("openai", base_url, "sk-test"), client)

        with pytest.raises(GekoError) as raised:
            await adapter.complete(REQUEST)

    assert (raised.value.code, raised.value.reason) == (
        ErrorCode.UPSTREAM_UNAVAILABLE,
        "PROVIDER_UNREACHABLE",
    )
    assert log == ["hung up", "hung up"]
