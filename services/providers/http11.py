"""An httpx transport of our own for the provider clients: HTTP/1.1 over asyncio's Protocol API.

A streamed turn reads ~200 SSE events, each its own HTTP chunk. httpcore and h11 handle every chunk in pure
Python through several generator layers (~14 µs a chunk) and hand the body up one chunk per iteration, so a
burst of events that arrived in one socket read costs one trip up the stack per event. Here `data_received`
parses the chunks in place and the body stream yields all the bytes buffered so far in one piece: one
iteration per socket read. The httpx client above (URLs, headers, auth, timeouts, decoding, proxies mounted
by the caller) is unchanged; only httpcore's pool and h11's parser are replaced.

Connections are pooled per origin, most recently released first, closed after `keepalive_expiry` idle, at
most `max_connections` open (further requests wait, up to the pool timeout). A response closed before its
body ended closes its connection: that is how a cancelled turn stops the upstream.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpx

# Below the idle timeouts upstreams close connections after (uvicorn 5 s, most proxies 60 s and more), so a
# pooled connection is dropped by us before the server drops it under a new request.
KEEPALIVE_EXPIRY_SECONDS = 4.0
# Unread body bytes past which the socket stops being read until the reader catches up.
MAX_BUFFERED_BODY = 256 * 1024
# A response head (status line and headers) longer than this is refused (h11 refused one over 16 KiB).
MAX_HEAD_BYTES = 64 * 1024

_DEFAULT_PORTS = {b"http": 80, b"https": 443}
# Head lines end at CRLF; a bare LF is read as one too, as h11 reads it.
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: (.*))?")
_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A chunk's size line: hex digits, then optional whitespace and extensions (ignored).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r\n")

Origin = tuple[bytes, bytes, int]

# The response extension that holds the body stream itself (see `raw_body`).
_BODY = "geko.http11.body"

# How the body of a response is delimited.
_NO_BODY, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(4)
# Where the chunked parser is: a size line, data, the CRLF after data, the trailer lines.
_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class HTTP11Transport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int | None = 100,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_SECONDS,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._connections: set[_Connection] = set()  # open or being opened, idle or not
        # Requests waiting for a connection, first come first served: each gets a released connection to its
        # origin, or None for room to open one (counted in `_reserved` until it does).
        self._waiters: deque[tuple[Origin, asyncio.Future[_Connection | None]]] = deque()
        self._reserved = 0
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or _DEFAULT_PORTS.get(url.raw_scheme, 80))
        connection = await self._acquire(origin, request, timeouts)
        try:
            await connection.send(request, timeouts.get("write"))
            return await connection.receive_head(request, timeouts.get("read"))
        except BaseException:
            connection.close()
            raise

    async def aclose(self) -> None:
        self._closed = True
        for connection in list(self._connections):
            connection.close()
        self._idle.clear()

    async def _acquire(self, origin: Origin, request: httpx.Request, timeouts: dict[str, Any]) -> _Connection:
        """A kept-alive connection to `origin` (the most recently released), else a new one if the bound
        allows (closing an idle connection to another origin for it if need be), else the next one released
        or room for one, after the requests already waiting, up to the pool timeout."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        pool_seconds = timeouts.get("pool")
        deadline = None if pool_seconds is None else asyncio.get_running_loop().time() + pool_seconds
        while True:
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()
                if connection.reuse():
                    return connection
            if not self._someone_waits() and (self._has_room() or self._close_an_idle_connection()):
                return await self._connect(origin, request, timeouts.get("connect"))
            handed = await self._wait_in_line(origin, request, deadline)
            if handed is None:
                self._reserved -= 1  # the connection opened next takes the room reserved
                return await self._connect(origin, request, timeouts.get("connect"))
            if handed.reuse():
                return handed
            # Closed between being handed over and now: try again.

    def _someone_waits(self) -> bool:
        waiters = self._waiters
        while waiters and waiters[0][1].done():  # gave up
            waiters.popleft()
        return bool(waiters)

    def _has_room(self) -> bool:
        bound = self._max_connections
        return bound is None or len(self._connections) + self._reserved < bound

    def _close_an_idle_connection(self) -> bool:
        for idle in self._idle.values():
            if idle:
                idle[0].close()  # the longest idle
                return True
        return False

    async def _wait_in_line(
        self, origin: Origin, request: httpx.Request, deadline: float | None
    ) -> _Connection | None:
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append((origin, waiter))
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():  # given a connection or room it will not use
                handed = waiter.result()
                if handed is None:
                    self._reserved -= 1
                    self._offer_room()
                else:
                    self.release(handed)
            if isinstance(error, TimeoutError):
                raise httpx.PoolTimeout("no connection became free in time", request=request) from None
            raise

    async def _connect(self, origin: Origin, request: httpx.Request, seconds: float | None) -> _Connection:
        scheme, host, port = origin
        hostname = host.decode("ascii")
        tls = None
        if scheme == b"https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            tls = self._ssl_context
        loop = asyncio.get_running_loop()
        connection = _Connection(self, origin)
        self._connections.add(connection)
        try:
            async with asyncio.timeout(seconds):
                # asyncio sets TCP_NODELAY on every TCP transport it makes.
                await loop.create_connection(
                    lambda: connection, hostname, port, ssl=tls, server_hostname=hostname if tls else None
                )
        except BaseException as error:
            connection.close()
            if isinstance(error, TimeoutError):
                raise httpx.ConnectTimeout("connecting timed out", request=request) from None
            if isinstance(error, OSError):  # ssl.SSLError included: a certificate that does not verify
                raise httpx.ConnectError(str(error) or repr(error), request=request) from None
            raise
        return connection

    def release(self, connection: _Connection) -> None:
        """A connection whose exchange ended cleanly: to the first waiting request if it is for the same
        origin, closed to make room if that request is for another, else kept for the next request."""
        if self._closed:
            connection.close()
            return
        if self._someone_waits():
            origin, waiter = self._waiters[0]
            if origin == connection.origin:
                self._waiters.popleft()
                waiter.set_result(connection)
            else:
                connection.close()  # which offers the room to that request
            return
        idle = self._idle.get(connection.origin)
        if idle is None:
            idle = self._idle[connection.origin] = deque()
        idle.append(connection)
        connection.expire_after(self._keepalive_expiry)

    def discard(self, connection: _Connection, *, idle: bool) -> None:
        """A connection closed: forget it, and offer its room to a waiting request."""
        self._connections.discard(connection)
        if idle:
            # The oldest, at the left end, in the usual case (expiry).
            self._idle[connection.origin].remove(connection)
        self._offer_room()

    def _offer_room(self) -> None:
        while self._someone_waits() and self._has_room():
            self._reserved += 1
            self._waiters.popleft()[1].set_result(None)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes a request, parses the response as it arrives, buffers the body."""

    def __init__(self, pool: HTTP11Transport, origin: Origin) -> None:
        self._pool = pool
        self.origin = origin
        self._transport: asyncio.Transport | None = None
        self._closed = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._expiry: asyncio.TimerHandle | None = None  # set while idle in the pool
        self._timer: asyncio.TimerHandle | None = None  # times out a wait (`_wait_ends`), when one is set
        self._wait_ends = 0.0
        self._request: httpx.Request | None = None
        self._writing_paused = False
        self._reading_paused = False
        # The response being read.
        self._head = b""
        self._head_done = False
        self._status = 0
        self._version = b""
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._framing = _NO_BODY
        self._remaining = 0  # bytes left of a Content-Length body or of the current chunk
        self._chunk_state = _SIZE
        self._pending = b""  # bytes of the chunked framing not parsed yet
        self._keep_alive = False
        self._body: list[bytes] = []
        self._buffered = 0
        self._body_done = False
        self._received_any = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._request is None or self._body_done:
            self.close()  # bytes nobody asked for: the connection cannot be trusted again
            return
        self._received_any = True
        try:
            if not self._head_done:
                data = self._parse_head(data)
                if not self._head_done:
                    return
            if data:
                self._parse_body(data)
        except httpx.RemoteProtocolError as error:
            self._fail(error)
            return
        if self._buffered > MAX_BUFFERED_BODY and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._end_of_stream(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_of_stream(exc)
        self._mark_closed()
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # The pool's side

    def reuse(self) -> bool:
        """Take this idle connection for a new request, if it is still open."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        return not self._closed

    def expire_after(self, seconds: float) -> None:
        self._expiry = self._loop.call_later(seconds, self.close)

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.close()
        self._mark_closed()

    def _mark_closed(self) -> None:
        if not self._closed:
            self._closed = True
            idle = self._expiry is not None
            for timer in (self._expiry, self._timer):
                if timer is not None:
                    timer.cancel()
            self._expiry = self._timer = None
            self._pool.discard(self, idle=idle)

    # One exchange

    async def send(self, request: httpx.Request, write_seconds: float | None) -> None:
        self._start(request)
        fields = request.headers.raw
        head = b"".join(
            [
                request.method.encode("ascii"),
                b" ",
                request.url.raw_path,
                b" HTTP/1.1\r\n",
                *[b"%s: %s\r\n" % field for field in fields],
                b"\r\n",
            ]
        )
        # A CR, LF or NUL inside a field would end it early (a header injected): the lines counted are ours.
        lines = len(fields) + 2
        if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\0" in head:
            raise httpx.LocalProtocolError("a header contains CR, LF or NUL", request=request)
        transport = self._transport
        assert transport is not None
        if isinstance(request.stream, httpx.ByteStream):
            transport.write(head + request.content)
        else:
            transport.write(head)
            async for part in request.stream:  # type: ignore[union-attr]
                transport.write(part)
                await self._drained(request, write_seconds)
        await self._drained(request, write_seconds)

    async def receive_head(self, request: httpx.Request, read_seconds: float | None) -> httpx.Response:
        while not self._head_done:
            await self.wait(request, read_seconds)
        body = _Body(self, request, read_seconds)
        return httpx.Response(
            self._status,
            headers=self._headers,
            stream=body,
            extensions={"http_version": b"HTTP/" + self._version, "reason_phrase": self._reason, _BODY: body},
        )

    def take_body(self) -> bytes | None:
        """All body bytes buffered so far, or None at the body's end; raises what broke the body."""
        if self._body:
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._body.clear()
            self._buffered = 0
            if self._reading_paused and self._transport is not None:
                self._reading_paused = False
                self._transport.resume_reading()
            return body
        if self._body_done:
            return None
        if self._error is not None:
            raise self._error
        return b""

    def finish(self) -> None:
        """The response was closed: back to the pool if its body ended and the server keeps the connection."""
        reusable = self._body_done and self._keep_alive and not self._closed and self._error is None
        self._request = None
        if reusable:
            self._pool.release(self)
        else:
            self.close()

    def _start(self, request: httpx.Request) -> None:
        self._request = request
        self._head = b""
        self._head_done = False
        self._headers = []
        self._pending = b""
        self._chunk_state = _SIZE
        self._body.clear()
        self._buffered = 0
        self._body_done = False
        self._received_any = False
        self._error = None
        connection = request.headers.get("connection")
        self._keep_alive = not (connection and "close" in connection.lower())

    async def _drained(self, request: httpx.Request, write_seconds: float | None) -> None:
        while self._writing_paused and not self._closed:
            await self.wait(request, write_seconds, writing=True)

    async def wait(self, request: httpx.Request, seconds: float | None, *, writing: bool = False) -> None:
        """Until new bytes arrive (or writing may go on), the connection ends, or `seconds` pass."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise httpx.RemoteProtocolError("the connection was closed", request=request)
        waiter = self._waiter = self._loop.create_future()
        if seconds is None:
            self._wait_ends = math.inf
        else:
            self._wait_ends = ends = self._loop.time() + seconds
            if self._timer is None or self._timer.when() > ends:
                self._arm_timer()
        try:
            await waiter
        except TimeoutError:
            if writing:
                raise httpx.WriteTimeout("writing the request timed out", request=request) from None
            raise httpx.ReadTimeout("the server sent nothing in time", request=request) from None
        finally:
            self._waiter = None
        if self._error is not None and not self._body:
            raise self._error

    def _arm_timer(self) -> None:
        """One timer per connection, moved on only when it fires early: arming and cancelling one per wait
        (per socket read) cost ~2 µs each."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(self._wait_ends, self._check_wait)

    def _check_wait(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._wait_ends == math.inf:
            return  # the next wait with a limit arms the timer again
        if self._loop.time() >= self._wait_ends:
            waiter.set_exception(TimeoutError())
        else:
            self._arm_timer()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self._keep_alive = False
        self.close()
        self._wake()

    def _end_of_stream(self, exc: Exception | None) -> None:
        """The server closed its side (or the connection broke): the end of a close-delimited body, else an
        error for whoever waits."""
        self._keep_alive = False
        if self._request is None or self._body_done or self._error is not None:
            return
        request = self._request
        if self._head_done and self._framing == _UNTIL_CLOSE and exc is None:
            self._body_done = True
            self._wake()
            return
        error: Exception
        if exc is not None:
            error = httpx.ReadError(str(exc) or repr(exc), request=request)
        elif not self._received_any:
            error = httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        elif not self._head_done:
            error = httpx.RemoteProtocolError(
                "peer closed connection inside the response head", request=request
            )
        else:
            error = httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        self._error = error
        self._wake()

    # Parsing

    def _parse_head(self, data: bytes) -> bytes:
        """Takes the response head from `data` (1xx responses skipped); returns the bytes after it."""
        head = self._head + data if self._head else data
        while True:
            end = _HEAD_END.search(head)
            if end is None:
                if len(head) > MAX_HEAD_BYTES:
                    raise self._malformed("the response head is too long")
                self._head = head
                return b""
            lines = _LINE_END.split(head[: end.start()])
            head = head[end.end() :]
            status = _STATUS_LINE.fullmatch(lines[0])
            if status is None:
                raise self._malformed("the status line is malformed")
            code = int(status[2])
            headers = [self._header(line) for line in lines[1:]]
            if 100 <= code < 200:
                if code == 101:
                    raise self._malformed("the server switched protocols")
                continue
            self._head = b""
            self._version = status[1]
            self._status = code
            self._reason = status[3] or b""
            self._headers = headers
            self._frame()
            self._head_done = True
            return head

    def _header(self, line: bytes) -> tuple[bytes, bytes]:
        name, colon, value = line.partition(b":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise self._malformed("a header line is malformed")
        return name, value.strip(b" \t")

    def _frame(self) -> None:
        """How the body is delimited, and whether the connection can serve another request (RFC 9112 §6)."""
        assert self._request is not None
        lengths: set[bytes] = set()
        codings = b""
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length":
                lengths.update(part.strip() for part in value.split(b","))
            elif lowered == b"transfer-encoding":
                codings = value.lower()
            elif lowered == b"connection" and b"close" in value.lower():
                self._keep_alive = False
        if self._version != b"1.1":
            self._keep_alive = False
        if self._request.method == "HEAD" or self._status in (204, 304):
            self._framing = _NO_BODY
        elif codings:
            if codings.rsplit(b",", 1)[-1].strip() != b"chunked":
                raise self._malformed("unsupported transfer encoding")
            self._framing = _CHUNKED
        elif lengths:
            length = lengths.pop()
            if lengths or not length.isdigit():
                raise self._malformed("the Content-Length is invalid")
            self._remaining = int(length)
            self._framing = _LENGTH if self._remaining else _NO_BODY
        else:
            self._framing = _UNTIL_CLOSE
            self._keep_alive = False
        if self._framing == _NO_BODY:
            self._body_done = True

    def _parse_body(self, data: bytes) -> None:
        if self._framing == _LENGTH:
            if len(data) >= self._remaining:
                if len(data) > self._remaining:
                    self._keep_alive = False  # more than the response: the connection is out of step
                    data = data[: self._remaining]
                self._body_done = True
            self._remaining -= len(data)
            self._append(data)
        elif self._framing == _CHUNKED:
            self._parse_chunks(self._pending + data if self._pending else data)
        elif self._framing == _UNTIL_CLOSE:
            self._append(data)
        else:
            self._keep_alive = False

    def _parse_chunks(self, data: bytes) -> None:
        """Takes the data of every whole or partial chunk in `data`; keeps what is left of an unfinished
        size line, data CRLF or trailer for the next call. The usual read is one whole chunk (a streamed
        event): it takes one pass of the size-line branch."""
        position, end = 0, len(data)
        pieces: list[bytes] = []
        state, remaining = self._chunk_state, self._remaining
        while position < end:
            if state == _SIZE:
                size = _CHUNK_SIZE.match(data, position)
                if size is None:
                    if data.find(b"\r\n", position) >= 0 or end - position > 1024:
                        raise self._malformed("a chunk size line is malformed")
                    break
                remaining = int(size[1], 16)
                position = size.end()
                stop = position + remaining
                if not remaining:
                    state = _TRAILER
                elif stop + 2 <= end:  # the whole chunk is here: taken at once
                    if not data.startswith(b"\r\n", stop):
                        raise self._malformed("a chunk does not end with CRLF")
                    pieces.append(data[position:stop])
                    position, remaining = stop + 2, 0
                else:
                    state = _DATA
            elif state == _DATA:
                stop = min(position + remaining, end)
                pieces.append(data[position:stop])
                remaining -= stop - position
                position = stop
                if remaining == 0:
                    state = _DATA_END
            elif state == _DATA_END:
                if end - position < 2:
                    break
                if not data.startswith(b"\r\n", position):
                    raise self._malformed("a chunk does not end with CRLF")
                position += 2
                state = _SIZE
            else:  # _TRAILER: header lines up to an empty one
                line_end = data.find(b"\r\n", position)
                if line_end < 0:
                    if end - position > MAX_HEAD_BYTES:
                        raise self._malformed("the trailer is too long")
                    break
                blank = line_end == position
                position = line_end + 2
                if blank:
                    self._body_done = True
                    if position < end:
                        self._keep_alive = False
                    position = end
        self._pending = data[position:] if position < end else b""
        self._chunk_state, self._remaining = state, remaining
        if pieces:
            self._append(pieces[0] if len(pieces) == 1 else b"".join(pieces))

    def _append(self, data: bytes) -> None:
        if data:
            self._body.append(data)
            self._buffered += len(data)

    def _malformed(self, what: str) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(f"malformed response: {what}", request=self._request)


def raw_body(response: httpx.Response) -> AsyncIterator[bytes] | None:
    """The body of a response this transport made, read straight from its connection (None for another
    transport's). httpx's `aiter_raw` reaches the same bytes through two async generators of its own, a
    resumption each per chunk (a streamed token); their work is not needed here: this transport raises httpx's
    errors itself, and closing the response (`aclose`) still closes the body. The response counts as read."""
    body = response.extensions.get(_BODY)
    if not isinstance(body, _Body):
        return None
    if response.is_stream_consumed:
        raise httpx.StreamConsumed()
    if response.is_closed:
        raise httpx.StreamClosed()
    response.is_stream_consumed = True
    return body


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives: each iteration yields every byte buffered since the last one."""

    def __init__(self, connection: _Connection, request: httpx.Request, read_seconds: float | None) -> None:
        self._connection = connection
        self._request = request
        self._read_seconds = read_seconds
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        while True:
            body = self._connection.take_body()
            if body is None:
                raise StopAsyncIteration
            if body:
                return body
            await self._connection.wait(self._request, self._read_seconds)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._connection.finish()
