"""Error shaping: GekoError to extensions.code (+ field, retryAfter, upgradeUrl); the unexpected is masked."""

from __future__ import annotations

import httpx
import pytest
import strawberry
from graphql import GraphQLError

from graphql_gateway.app import create_app
from graphql_gateway.errors import INTERNAL_MESSAGE, ShapeErrors, shape_error
from services.runtime.context import Principal
from services.runtime.errors import BadInput, QuotaExceeded, RateLimited
from services.runtime.settings import Settings
from tests.unit.gateway.conftest import GOOD_TOKEN, codes, post


def located(original: Exception) -> GraphQLError:
    return GraphQLError("raw text", path=["me"], original_error=original)


def test_bad_input_keeps_its_message_and_names_the_field() -> None:
    shaped = shape_error(located(BadInput("email is not valid", field="email")))
    assert shaped.message == "email is not valid"
    assert shaped.extensions == {"code": "BAD_USER_INPUT", "field": "email"}
    assert shaped.path == ["me"]


def test_rate_limited_carries_retry_after_and_denials_carry_upgrade_url() -> None:
    assert shape_error(located(RateLimited("slow down", retry_after_seconds=30))).extensions == {
        "code": "RATE_LIMITED",
        "retryAfter": 30,
    }
    quota = QuotaExceeded(
        "monthly tokens used up", upgrade_url="https://geko.example/upgrade", reason="MONTHLY_TOKENS"
    )
    assert shape_error(located(quota)).extensions == {
        "code": "QUOTA_EXCEEDED",
        "reason": "MONTHLY_TOKENS",
        "upgradeUrl": "https://geko.example/upgrade",
    }


def test_unknown_exceptions_are_masked_as_internal() -> None:
    shaped = shape_error(
        located(RuntimeError("<_InactiveRpcError StatusCode.UNKNOWN details='db at 10.0.0.5'>"))
    )
    assert shaped.message == INTERNAL_MESSAGE
    assert shaped.extensions == {"code": "INTERNAL"}


def test_execution_errors_without_an_original_are_internal_and_validation_errors_are_the_clients() -> None:
    assert shape_error(GraphQLError("Cannot return null", path=["me", "id"])).extensions == {
        "code": "INTERNAL"
    }
    assert shape_error(GraphQLError("Cannot query field 'x'")).extensions == {"code": "BAD_USER_INPUT"}


@strawberry.type
class Boom:
    @strawberry.field
    def secret(self) -> str:
        raise ValueError("Traceback (most recent call last): File /srv/geko/secret.py password=hunter2")


async def test_a_schema_with_shape_errors_masks_a_resolvers_exception() -> None:
    result = await strawberry.Schema(query=Boom, extensions=[ShapeErrors]).execute("{ secret }")
    assert result.errors is not None
    assert [(e.message, e.extensions) for e in result.errors] == [(INTERNAL_MESSAGE, {"code": "INTERNAL"})]


class ExplodingVerifier:
    async def verify(self, token: str) -> Principal:
        raise RuntimeError("Traceback: /work/geko/services/runtime/tokens.py line 12, key=abc")


@pytest.fixture
async def exploding_client(gateway_settings: Settings):
    app = create_app(gateway_settings, token_verifier=ExplodingVerifier())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as client:
        yield client


async def test_an_unexpected_failure_reaches_the_client_as_internal_without_a_trace(exploding_client) -> None:
    response = await exploding_client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": f"Bearer {GOOD_TOKEN}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": "internal error",
            "locations": [{"line": 1, "column": 3}],
            "path": ["me"],
            "extensions": {"code": "INTERNAL"},
        }
    ]
    assert "Traceback" not in response.text
    assert "tokens.py" not in response.text


async def test_unauthenticated_without_or_with_a_bad_authorization(client: httpx.AsyncClient) -> None:
    assert codes(await post(client, "{ me { id } }")) == ["UNAUTHENTICATED"]
    assert codes(await post(client, "{ me { id } }", token="forged")) == ["UNAUTHENTICATED"]
    basic = await client.post(
        "/graphql", json={"query": "{ apiKeys { id } }"}, headers={"Authorization": "Basic x"}
    )
    assert basic.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Bearer" in basic.json()["errors"][0]["message"]


async def test_an_unreachable_service_is_upstream_unavailable_not_its_grpc_text(
    client: httpx.AsyncClient,
) -> None:
    body = await post(client, "{ me { id } }", token=GOOD_TOKEN)
    assert codes(body) == ["UPSTREAM_UNAVAILABLE"]
    assert "StatusCode" not in str(body)
    assert "127.0.0.1" not in str(body)


async def test_variable_errors_are_the_clients(client: httpx.AsyncClient) -> None:
    query = "mutation($t: String!) { logout(refreshToken: $t) }"
    for variables in ({}, {"t": 5}):
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT"}
        assert "$t" in error["message"]


async def test_a_request_verifies_its_token_once_however_many_fields_need_it(client, verifier) -> None:
    query = "{ " + " ".join(f'u{i}: user(id: "{i}") {{ id }}' for i in range(10)) + " }"
    body = await post(client, query, token="forged")
    assert codes(body) == ["UNAUTHENTICATED"] * 10
    assert verifier.calls == 1
