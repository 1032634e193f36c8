"""Who and where a request comes from: its request id, the client's address and user agent.

`RequestMetaMiddleware` runs first on every HTTP request and WebSocket: it takes the caller's `X-Request-Id`
when it looks like one (else makes one), echoes it on the response, and sets the runtime ContextVars so log
lines and the gRPC calls made for this request carry the same id, address and agent.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.context import (
    current_peer_ip,
    current_request_id,
    current_user_agent,
    new_request_id,
)

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is kept only if it is short and plain, so it cannot forge log lines or headers.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_MAX_USER_AGENT = 256


def request_id_of(headers: Headers) -> str:
    """The caller's request id when it is acceptable, else a new one."""
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if _VALID_REQUEST_ID.fullmatch(given) else new_request_id()


class RequestMetaMiddleware:
    """Sets request id, peer ip and user agent for the request and echoes `X-Request-Id`.

    The peer is the socket's address as the server reports it; behind a proxy, run uvicorn with
    `--proxy-headers --forwarded-allow-ips` so that address is the client's, not the proxy's. A raw
    X-Forwarded-For header is never trusted here, since anyone can send one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_of(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        client = scope.get("client")
        tokens = (
            current_request_id.set(request_id),
            current_peer_ip.set(client[0] if client else None),
            current_user_agent.set(headers.get("user-agent", "")[:_MAX_USER_AGENT] or None),
        )

        # Not a coroutine: it hands back `send`'s own awaitable, so each message (every streamed WebSocket
        # frame) passes here without a coroutine of its own.
        def send_with_id(message: Message) -> Awaitable[None]:
            kind = message["type"]
            if kind == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif kind == "websocket.accept":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            return send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(tokens[0])
            current_peer_ip.reset(tokens[1])
            current_user_agent.reset(tokens[2])
