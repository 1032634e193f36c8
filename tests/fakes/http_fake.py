"""What the fake model providers share: an ASGI app under uvicorn on 127.0.0.1:0 that keeps every request,
notices a client that leaves before its response ended, and streams a body with the failure modes tests need.

A subclass implements `handle(request, reply)`; `Reply` sends a JSON answer or a streamed body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# slow: `delay` before each streamed piece; fail_status: an error answer; cut: the connection drops mid-body;
# no_terminal: the body ends cleanly without the provider's end marker; error_midstream: an error event after
# a few pieces; no_usage: no token counts.
Mode = Literal["slow", "fail_status", "cut", "no_terminal", "error_midstream", "no_usage"]


@dataclass(frozen=True)
class ScriptedCall:
    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass
class Script:
    """What the fake model answers next, and how. Text streams word by word."""

    text: str = "Hello from the fake model."
    tool_calls: list[ScriptedCall] = field(default_factory=list)
    input_tokens: int = 12
    output_tokens: int = 6
    mode: Mode | None = None
    delay: float = 0.0
    fail_status: int = 500
    retry_after: str | None = None
    fail_headers: dict[str, str] = field(default_factory=dict)

    def words(self) -> list[str]:
        words = self.text.split(" ") if self.text else []
        return [word if i == 0 else " " + word for i, word in enumerate(words)]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: Any
    peer: str = ""  # the client's "host:port": the same for requests over one kept-alive connection


class _Disconnected(Exception):
    """The client went away mid-response."""


class _CutConnection(Exception):
    """Raised inside a response so uvicorn drops the connection without ending the body."""


class Reply:
    """The answer to one request: `json(...)` once, or `stream(...)`."""

    def __init__(self, send: Send, gone: asyncio.Event) -> None:
        self._send = send
        self._gone = gone

    async def json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await self._send({"type": "http.response.start", "status": status, "headers": raw})
        await self._send({"type": "http.response.body", "body": body})

    async def stream(
        self, pieces: Iterable[bytes], *, content_type: str, delay: float = 0.0, cut: bool = False
    ) -> None:
        """Sends each piece (after `delay`), then ends the body, or drops the connection if `cut`."""
        headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-cache")]
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})
        for piece in pieces:
            if delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._gone.wait(), delay)
            if self._gone.is_set():
                raise _Disconnected
            await self._send({"type": "http.response.body", "body": piece, "more_body": True})
        if cut:
            raise _CutConnection("cut mode: dropping the connection mid-body")
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: an optional `event:` line, a `data:` line, a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


class FakeHttpServer:
    """Start with `start()`; point clients at `base_url`. `requests` keeps every request, `disconnects` the
    paths of responses the client abandoned."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[str] = []
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def handle(self, request: RecordedRequest, reply: Reply) -> None:
        raise NotImplementedError

    async def wait_for_disconnect(self, timeout: float = 10.0) -> str:
        """The path of the first abandoned response, waiting for it to be noticed."""
        async with asyncio.timeout(timeout):
            while not self.disconnects:
                await asyncio.sleep(0.01)
        return self.disconnects[0]

    async def start(self) -> FakeHttpServer:
        config = uvicorn.Config(self, host="127.0.0.1", port=0, lifespan="off", log_level="critical")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if not self._server.started:
            raise RuntimeError(f"{type(self).__name__} did not start")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            await self._task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        client = scope.get("client") or ("", 0)
        request = RecordedRequest(scope["method"], scope["path"], headers, body, f"{client[0]}:{client[1]}")
        self.requests.append(request)
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        try:
            await self.handle(request, Reply(send, gone))
        except _Disconnected:
            self.disconnects.append(request.path)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return
