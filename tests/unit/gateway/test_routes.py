"""/health, /metrics, /.well-known/jwks.json and X-Request-Id, with every service unreachable."""

from __future__ import annotations

import httpx

from services.runtime.settings import SERVICES


async def test_health_is_503_and_names_each_unreachable_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {**dict.fromkeys(SERVICES, "UNAVAILABLE"), "database": "ok", "cache": "ok"}


async def test_metrics_are_prometheus_text_with_the_gateways_request_counts(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/graphql", json={"query": "{ __typename }"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="POST",route="/graphql",status="200"}' in response.text
    assert "http_request_seconds_bucket" in response.text


async def test_unknown_paths_share_one_metrics_label(client: httpx.AsyncClient) -> None:
    await client.get("/no/such/path/7f3a")
    text = (await client.get("/metrics")).text
    assert "/no/such/path" not in text
    assert 'route="other"' in text


async def test_the_audit_export_has_its_own_metrics_label(client: httpx.AsyncClient) -> None:
    await client.get("/export/audit.csv")  # refused (no token), but counted under its route
    text = (await client.get("/metrics")).text
    assert 'route="/export/audit.csv"' in text


async def test_jwks_is_503_json_when_auth_is_unreachable(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"


async def test_request_id_is_echoed_when_plain_and_replaced_when_not(client: httpx.AsyncClient) -> None:
    kept = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "abc-123"}
    )
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] not in ("", "bad id\twith spaces")
    assert len(replaced.headers["x-request-id"]) == 32
    refused = await client.post("/graphql", content=b"{", headers={"Content-Type": "application/json"})
    assert refused.status_code == 400
    assert refused.headers["x-request-id"]
