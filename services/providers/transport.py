"""The HTTP plumbing adapters share: a client tuned for long-lived upstream streams, a request that survives a
pooled connection the upstream already closed, and a response whose failures arrive as our errors."""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx

from services.providers.base import ProviderConfig
from services.providers.errors import error_for_status, error_for_transport, malformed_answer

# Below the idle timeouts upstreams close connections after (uvicorn 5 s, most proxies 60 s and more), so a
# pooled connection is dropped by us before the server drops it under a new request.
KEEPALIVE_EXPIRY_SECONDS = 4.0
# How long a stream's tail is awaited after its last event before the connection is given up instead.
DRAIN_SECONDS = 1.0


def timeout_for(config: ProviderConfig) -> httpx.Timeout:
    """Connect, pool and write bounded by the connect timeout; `read` bounds the wait between two chunks."""
    return httpx.Timeout(
        connect=config.connect_timeout,
        read=config.read_timeout,
        write=config.connect_timeout,
        pool=config.connect_timeout,
    )


def make_client(config: ProviderConfig) -> httpx.AsyncClient:
    """A client for one adapter that got none; the owner of a shared client sets its own limits."""
    return httpx.AsyncClient(
        timeout=timeout_for(config),
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS),
    )


@asynccontextmanager
async def open_response(
    client: httpx.AsyncClient,
    config: ProviderConfig,
    url: str,
    *,
    headers: Mapping[str, str],
    json: Any,
) -> AsyncIterator[httpx.Response]:
    """POST `json` and yield the response, its body not yet read; a status >= 400 raises the mapped error
    instead. Leaving the block closes the response, and with it the connection when the body is unfinished —
    which is how closing an adapter's stream reaches the upstream."""
    request = client.build_request("POST", url, headers=headers, json=json, timeout=timeout_for(config))
    response = await _send(client, request)
    try:
        if response.status_code >= 400:
            try:
                body = await response.aread()
            except httpx.TransportError:
                body = b""
            raise error_for_status(response.status_code, body, response.headers, api_key=config.api_key)
        yield response
    finally:
        await response.aclose()


async def body_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The response body line by line; a timeout or a lost connection part-way raises the mapped error."""
    try:
        async for line in response.aiter_lines():
            yield line
    except httpx.TransportError as error:
        raise error_for_transport(error, started=True) from None


async def drain(rest: AsyncIterator[object]) -> None:
    """Reads what follows a stream's last event (the chunked body's end), briefly, so the connection goes
    back to the pool instead of being closed: a new TCP connection per turn costs every turn's first token."""
    with suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in rest:
                pass


async def read_json(response: httpx.Response) -> dict[str, Any]:
    """The whole body of a non-streamed answer as a JSON object."""
    try:
        body = await response.aread()
    except httpx.TransportError as error:
        raise error_for_transport(error, started=True) from None
    return decode_object(body)


def decode_object(data: str | bytes) -> dict[str, Any]:
    """One JSON object (a body, an SSE `data` field, an NDJSON line); anything else is a malformed answer."""
    try:
        value = jsonlib.loads(data)
    except ValueError:
        raise malformed_answer() from None
    if not isinstance(value, dict):
        raise malformed_answer()
    return value


def as_object(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: providers leave fields out or send null."""
    return value if isinstance(value, dict) else {}


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send once more when the first attempt failed before any answer arrived on a connection the upstream had
    closed while it sat in the pool; never retry a timeout or a refused connection."""
    try:
        return await client.send(request, stream=True)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        pass
    except httpx.TransportError as error:
        raise error_for_transport(error, started=False) from None
    try:
        return await client.send(request, stream=True)
    except httpx.TransportError as error:
        raise error_for_transport(error, started=False) from None
