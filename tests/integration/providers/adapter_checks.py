"""Helpers of the adapter tests: drive a stream or a completion, and check an error's code, reason and that it
never repeats the key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.providers.base import ChatRequest, Completion, ProviderAdapter, StreamEvent
from services.runtime.errors import ErrorCode, GekoError


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The shared client adapters get, as the services that use them pass one."""
    async with httpx.AsyncClient() as shared:
        yield shared


async def collect(
    events: AsyncIterator[StreamEvent], into: list[StreamEvent] | None = None
) -> list[StreamEvent]:
    """Every event of a stream; `into` keeps those that arrived before a failure."""
    received = [] if into is None else into
    async for event in events:
        received.append(event)
    return received


async def ask(
    adapter: ProviderAdapter, request: ChatRequest, *, streamed: bool
) -> list[StreamEvent] | Completion:
    return await collect(adapter.stream(request)) if streamed else await adapter.complete(request)


def expect_error(error: GekoError, code: ErrorCode, reason: str, *, key: str) -> None:
    assert (error.code, error.reason) == (code, reason)
    for text in (str(error), repr(error), error.message):
        assert key not in text
