"""The gateway as a real HTTP/WebSocket server (uvicorn on 127.0.0.1:0) in front of a real auth service.

Auth (and workspace) run on a real `GrpcServer` from the auth harness, over a migrated and seeded SQLite file
and a fresh PostgreSQL database in turn. The gateway gets its own Channels to that server, as in the
distributed mode; it shares the platform's database and backends only for /health to ping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
import uvicorn
from starlette.types import ASGIApp

from graphql_gateway.app import create_app
from services.runtime.settings import SERVICES
from tests.integration.auth.harness import Platform, database_url, platform, start_platform, unique_email

__all__ = ["database_url", "platform", "start_platform"]

PASSWORD = "correct horse 42"


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Runs `app` under uvicorn on a free loopback port; yields "127.0.0.1:PORT"."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        server.should_exit = True
        await task
        raise RuntimeError("uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Gateway:
    platform: Platform
    address: str
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return f"ws://{self.address}/graphql"

    async def graphql(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        response = await self.post(query, token, **variables)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, query: str, token: str | None = None, **variables: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )

    async def register(self, email: str | None = None, **fields: str) -> dict[str, Any]:
        body = await self.graphql(
            REGISTER,
            input={
                "email": email or unique_email(),
                "password": PASSWORD,
                "name": "Ann Lee",
                "tenantName": "Acme",
                **fields,
            },
        )
        assert "errors" not in body, body
        return body["data"]["register"]


GatewayFactory = Callable[..., Awaitable[Gateway]]

SESSION_FIELDS = "accessToken refreshToken expiresAt user { id email name role tenant { id name plan } }"
REGISTER = f"mutation($input: RegisterInput!) {{ register(input: $input) {{ {SESSION_FIELDS} }} }}"


@pytest_asyncio.fixture
async def start_gateway(start_platform: Callable[..., Awaitable[Platform]]) -> AsyncIterator[GatewayFactory]:
    """Starts a platform (settings overrides go to it) and a gateway in front of it."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Gateway:
            platform = await start_platform(**overrides)
            # Every service address points at the one server, as in the embedded mode.
            addresses = {f"{service}_addr": platform.settings.auth_addr for service in SERVICES}
            settings = platform.settings.model_copy(update=addresses)
            app = create_app(settings, database=platform.deps.database, backends=platform.deps.backends)
            address = await stack.enter_async_context(serve(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://{address}", timeout=10)
            )
            return Gateway(platform=platform, address=address, http=http)

        yield start


@pytest_asyncio.fixture
async def gateway(start_gateway: GatewayFactory) -> Gateway:
    return await start_gateway()
