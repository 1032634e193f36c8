"""A gateway app whose services are unreachable (port 1 refuses at once) and whose verifier is a stand-in,
driven in-process through httpx's ASGI transport.

Everything these tests check happens in the gateway before or instead of a service call: request refusals,
limits, error shaping, GraphiQL, health when services are down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from graphql_gateway.app import create_app
from services.runtime.context import Principal
from services.runtime.errors import Unauthenticated
from services.runtime.settings import SERVICES, Settings

GOOD_TOKEN = "good-token"
PRINCIPAL = Principal(user_id="u-1", tenant_id="t-1", role="owner", token=GOOD_TOKEN)


class StandInVerifier:
    """Accepts exactly GOOD_TOKEN; the real JwksTokenVerifier is exercised by the integration tests."""

    def __init__(self) -> None:
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        if token != GOOD_TOKEN:
            raise Unauthenticated("invalid signature")
        return PRINCIPAL


@pytest.fixture
def gateway_settings(settings: Settings) -> Settings:
    unreachable = {f"{service}_addr": "127.0.0.1:1" for service in SERVICES}
    return settings.model_copy(update={**unreachable, "max_body_bytes": 4096, "grpc_deadline_seconds": 2.0})


@pytest.fixture
def verifier() -> StandInVerifier:
    return StandInVerifier()


@pytest.fixture
async def client(gateway_settings: Settings, verifier: StandInVerifier) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway_settings, token_verifier=verifier)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as test_client,
    ):
        yield test_client


async def post(client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]
