"""Requests the gateway refuses before running anything: each gets a JSON GraphQL-style error, never a 500."""

from __future__ import annotations

import httpx
import pytest


def assert_refused(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "Unable to parse"),
        (b"\xff\xfe{}", "Unable to parse"),
        (b'"just a string"', "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b"[" * 1100 + b"]" * 1100, "Unable to parse"),
        (b"[]", "Batching is not enabled"),
        (b'{"variables": {}}', "No GraphQL query"),
        (b'{"query": 5}', "must be a string"),
        (b'{"query": "{ me { id } }", "variables": [1]}', "variables"),
    ],
)
async def test_malformed_body_is_a_400_with_a_json_error(
    client: httpx.AsyncClient, body: bytes, fragment: str
) -> None:
    response = await client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert_refused(response, 400, fragment)


async def test_wrong_content_type_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"query { me { id } }", headers={"Content-Type": "text/plain"}
    )
    assert_refused(response, 400, "Unsupported content type")


async def test_mutation_over_get_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": 'mutation { logout(refreshToken: "x") }'})
    assert_refused(response, 400, "mutations are not allowed when using GET")


async def test_get_without_query_for_a_script_is_a_400_not_the_ide(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "application/json"})
    assert_refused(response, 400, "No GraphQL query")


async def test_other_methods_get_a_405_json_error(client: httpx.AsyncClient) -> None:
    response = await client.put("/graphql", json={"query": "{ me { id } }"})
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_body_over_the_cap_by_content_length_is_a_413(client: httpx.AsyncClient) -> None:
    query = "{ me { id } }" + " " * 8192
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 413
    assert "larger than 4096 bytes" in response.json()["errors"][0]["message"]


async def test_streamed_body_over_the_cap_is_a_413_even_without_content_length(
    client: httpx.AsyncClient,
) -> None:
    async def chunks():
        yield b'{"query": "{ me { id } }", "pad": "'
        for _ in range(20):
            yield b"x" * 512
        yield b'"}'

    response = await client.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_body_under_the_cap_reaches_graphql(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_query_over_get_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_subscription_over_plain_http_is_refused_as_bad_input(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/graphql", json={"query": "subscription { heartbeat { userId } }"}),
        await client.get("/graphql", params={"query": "subscription { heartbeat { userId } }"}),
    ):
        assert response.status_code == 200
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT"}
        assert "need a WebSocket" in error["message"]
