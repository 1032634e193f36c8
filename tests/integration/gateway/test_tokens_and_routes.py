"""Bad tokens through the gateway, the JWK set it publishes, /health and /metrics with a real auth service."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from grpc_health.v1 import health_pb2
from joserfc import jwt

from services.auth.access_tokens import ACCESS_TOKEN_ALGORITHM, issue_access_token
from services.auth.signing_keys import SigningKeyRing, generate_signing_key
from services.runtime.clients import proto_service_name
from services.runtime.clock import utcnow
from services.runtime.settings import SERVICES
from tests.integration.gateway.conftest import Gateway

ME = "{ me { id } }"


async def me_error(gateway: Gateway, token: str) -> dict:
    body = await gateway.graphql(ME, token)
    assert body["data"] is None
    assert "Traceback" not in json.dumps(body)
    return body["errors"][0]


async def signing_key(gateway: Gateway):
    deps = gateway.platform.deps
    return await SigningKeyRing(deps.database, deps.secret_box, deps.settings).active_key()


async def test_expired_tampered_wrong_kid_and_garbage_tokens_are_unauthenticated(gateway: Gateway) -> None:
    session = await gateway.register()
    user = session["user"]
    key = await signing_key(gateway)
    settings = gateway.platform.settings
    expired = issue_access_token(
        key,
        settings=settings,
        user_id=user["id"],
        tenant_id=user["tenant"]["id"],
        role="owner",
        now=utcnow() - timedelta(hours=1),
    ).token
    header, payload, signature = session["accessToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    tampered = ".".join(
        [header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature]
    )
    stranger = generate_signing_key()
    wrong_kid = issue_access_token(
        stranger, settings=settings, user_id=user["id"], tenant_id=user["tenant"]["id"], role="owner"
    ).token
    impostor = jwt.encode(
        {"alg": ACCESS_TOKEN_ALGORITHM, "kid": key.kid},
        jwt.decode(wrong_kid, stranger, algorithms=[ACCESS_TOKEN_ALGORITHM]).claims,
        stranger,
        algorithms=[ACCESS_TOKEN_ALGORITHM],
    )
    cases = {
        expired: "token expired",
        tampered: "invalid signature",
        wrong_kid: "unknown signing key",
        impostor: "invalid signature",
        "abc": "malformed token",
        "gk_not_a_real_key_123456": None,
    }
    for token, message in cases.items():
        error = await me_error(gateway, token)
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}, (token, error)
        if message:
            assert error["message"] == message
    assert (await gateway.graphql(ME, session["accessToken"]))["data"]["me"]["id"] == user["id"]


async def test_jwks_has_the_kid_of_issued_tokens(gateway: Gateway) -> None:
    session = await gateway.register()
    response = await gateway.http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    keys = response.json()["keys"]
    header = json.loads(base64.urlsafe_b64decode(session["accessToken"].split(".")[0] + "=="))
    assert header["kid"] in {k["kid"] for k in keys}
    assert all("d" not in k for k in keys), "no private key material"


async def test_health_is_200_when_everything_serves_and_503_naming_what_does_not(gateway: Gateway) -> None:
    health = gateway.platform.server.health
    # Auth and workspace run here; the other services' processes would report themselves the same way.
    for service in SERVICES:
        await health.set(proto_service_name(service), health_pb2.HealthCheckResponse.SERVING)
    response = await gateway.http.get("/health")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "checks": {**dict.fromkeys(SERVICES, "SERVING"), "database": "ok", "cache": "ok"},
    }

    await health.set(proto_service_name("billing"), health_pb2.HealthCheckResponse.NOT_SERVING)
    response = await gateway.http.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert {name: state for name, state in body["checks"].items() if state not in ("SERVING", "ok")} == {
        "billing": "NOT_SERVING"
    }


async def test_health_names_a_service_that_is_down(gateway: Gateway) -> None:
    await gateway.platform.server.stop(0)
    response = await gateway.http.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["auth"] == "UNAVAILABLE"
    assert response.json()["checks"]["database"] == "ok"


async def test_metrics_show_gateway_and_grpc_metrics(gateway: Gateway) -> None:
    await gateway.register()
    text = (await gateway.http.get("/metrics")).text
    assert 'http_requests_total{method="POST",route="/graphql",status="200"}' in text
    assert 'grpc_server_handled_total{code="OK",method="Register",service="geko.auth.v1.AuthService"}' in text
    assert "process_resident_memory_bytes" in text
