"""The HTTP plumbing adapters share: a client tuned for long-lived upstream streams, a request that survives a
pooled connection the upstream already closed, and a response whose failures arrive as our errors."""

from __future__ import annotations

import asyncio
import importlib.util
import json as jsonlib
import ssl
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx
import orjson
from httpx._utils import get_environment_proxies

from services.providers.base import ProviderConfig
from services.providers.errors import error_for_status, error_for_transport, malformed_answer
from services.providers.http11 import KEEPALIVE_EXPIRY_SECONDS, HTTP11Transport, raw_body
from services.providers.records import Records

# How long a stream's tail is awaited after its last event before the connection is given up instead.
DRAIN_SECONDS = 1.0


def _settle_sniffio() -> None:
    """httpcore asks `import sniffio` which async library runs, 4 times per streamed turn (each lock it sets
    up, each response it closes). sniffio is not installed (asyncio needs none), so each ask was a failed
    import that searched all of sys.path again: ~50 µs of CPU each on a busy host. Recording it as absent
    makes the same ImportError immediate; an installed sniffio is left alone."""
    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


_settle_sniffio()


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
    return pooled_client(timeout=timeout_for(config))


class KeepNoCookies(CookieJar):
    """A jar that keeps no cookie. Provider APIs need none, and a client shared by every tenant must not carry
    a cookie one tenant's answer set (a provider's load-balancer cookie, say) into another tenant's requests;
    keeping none also skips the parsing of every answer's Set-Cookie (~45 µs a turn)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


def pooled_client(
    *, timeout: httpx.Timeout, tls: ssl.SSLContext | None = None, max_connections: int = 100
) -> httpx.AsyncClient:
    """A client over our HTTP/1.1 transport (`services.providers.http11`), connections kept alive for
    KEEPALIVE_EXPIRY_SECONDS; `tls` None verifies as httpx does by default. Given a transport, httpx no longer
    mounts the proxies the environment names (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), so they are mounted here
    as httpx would: over its own transport, while hosts exempt from proxying use ours."""
    proxies: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: None
        if url is None
        else httpx.AsyncHTTPTransport(
            proxy=httpx.Proxy(url),
            verify=tls or True,
            limits=httpx.Limits(max_connections=max_connections, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS),
        )
        for pattern, url in get_environment_proxies().items()
    }
    return httpx.AsyncClient(
        timeout=timeout,
        cookies=KeepNoCookies(),
        transport=HTTP11Transport(ssl_context=tls, max_connections=max_connections),
        mounts=proxies,
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
    instead, and so does a timeout or a lost connection while the block reads the body. Leaving the block
    closes the response, and with it the connection when the body is unfinished — which is how closing an
    adapter's stream reaches the upstream."""
    request = client.build_request("POST", url, headers=headers, json=json, timeout=timeout_for(config))
    response = await _send(client, request)
    try:
        if response.status_code >= 400:
            try:
                body = await response.aread()
            except httpx.TransportError:
                body = b""
            raise error_for_status(response.status_code, body, response.headers, api_key=config.api_key)
        try:
            yield response
        except httpx.TransportError as error:
            raise error_for_transport(error, started=True) from None
    finally:
        await response.aclose()


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The response body as it arrives (any content encoding undone), in the pieces the server sent: httpx's
    own iterator, no layer of ours per chunk (read it inside `open_response`, which maps its failures and
    closes the response). Bytes, not text: see `services.providers.sse`."""
    # Without a content encoding the raw bytes are the body: that skips httpx's decoder layer per chunk, and
    # on our transport its two iterator layers as well (`raw_body`).
    if "content-encoding" in response.headers:
        return response.aiter_bytes()
    body = raw_body(response)
    return body if body is not None else response.aiter_raw()


async def body_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The response body line by line (NDJSON), without line endings; the last line may lack one. Lines end
    at LF, CR or CRLF only, and bytes that are not UTF-8 read as U+FFFD."""
    lines = Records(b"\n")
    async for chunk in body_chunks(response):
        for line in lines.feed(chunk):
            yield line.decode("utf-8", "replace")
    last, rest = lines.end()
    for line in [*last, rest] if rest else last:
        yield line.decode("utf-8", "replace")


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
    """One JSON object (a body, an SSE `data` field, an NDJSON line); anything else is a malformed answer.
    orjson reads it (once per streamed event, so its speed counts); what only the standard library accepts
    (NaN, lone surrogates, UTF-16 bodies) is read by it, so no answer is refused that was accepted before.
    One difference stays: orjson reads an integer beyond 64 bits as a float, which no token count is."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
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
