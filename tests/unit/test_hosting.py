"""The gateway's HTTP server: connections it accepts send small writes at once (TCP_NODELAY)."""

from __future__ import annotations

import socket

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.hosting import HttpServer


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def test_accepted_connections_have_nodelay() -> None:
    # Without TCP_NODELAY a response body written after its headers waits for the client's delayed ACK
    # (~40 ms on Linux): every GraphQL answer would pay it.
    server = HttpServer(Starlette(routes=[Route("/", _ok)]), "127.0.0.1", 0, grace_seconds=1)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            response = await client.get("/")  # the connection stays open (keep-alive)
            connections = server._server.server_state.connections
            sockets = [c.transport.get_extra_info("socket") for c in connections]
            assert response.text == "ok"
            assert sockets
            assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
    finally:
        await server.stop()
