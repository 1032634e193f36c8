"""Counts and times every HTTP request the gateway answers, into the runtime's Prometheus registry."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

# Route labels are a fixed set, so a scan of random paths cannot grow the metric's series without bound.
ROUTES = ("/graphql", "/health", "/metrics", "/.well-known/jwks.json", "/export/audit.csv")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def route_label(path: str) -> str:
    if path in ROUTES:
        return path
    if path.startswith("/static/"):
        return "/static"
    return "other"


class _Children:
    """The metrics' children by label values, resolved once: `labels()` checks and joins the values under a
    lock, ~2 µs a call. The label sets are bounded (fixed routes and methods, HTTP statuses), so are these."""

    def __init__(self) -> None:
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def note(self, method: str, route: str, status: int, seconds: float) -> None:
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self._counted[method, route, status] = HTTP_REQUESTS.labels(method, route, str(status))
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[method, route] = HTTP_REQUEST_SECONDS.labels(method, route)
        counted.inc()
        timed.observe(seconds)


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children = _Children()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self._children.note(method, route_label(scope["path"]), status, time.perf_counter() - started)
