"""Access tokens against a running auth service: published keys verify them; expired, tampered and
foreign-key tokens are refused; a rotation keeps old tokens valid."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import grpc
from joserfc import jwt
from joserfc.jwk import KeySet

from db.models.auth import SigningKey
from geko.auth.v1 import auth_pb2
from services.auth.access_tokens import ACCESS_TOKEN_ALGORITHM, issue_access_token
from services.auth.signing_keys import SigningKeyRing, generate_signing_key
from services.runtime.clock import utcnow
from tests.integration.auth.harness import Platform, rpc_error


def _ring(platform: Platform) -> SigningKeyRing:
    deps = platform.deps
    return SigningKeyRing(deps.database, deps.secret_box, deps.settings)


async def _get_me_code(platform: Platform, token: str) -> tuple[grpc.StatusCode, str]:
    code, error = await rpc_error(
        platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=platform.metadata(token))
    )
    return code, error.message


async def test_token_verifies_with_the_published_jwks(platform: Platform) -> None:
    session = (await platform.register()).session

    jwks = json.loads((await platform.auth.GetJwks(auth_pb2.GetJwksRequest())).jwks_json)
    token = jwt.decode(session.access_token, KeySet.import_key_set(jwks), algorithms=[ACCESS_TOKEN_ALGORITHM])

    assert token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"])
    assert token.claims["sub"] == session.user.id
    assert token.claims["tid"] == session.user.tenant_id
    assert token.claims["role"] == "owner"
    assert token.claims["exp"] - token.claims["iat"] <= 900
    verified = await platform.auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=session.access_token))
    assert verified.principal.user_id == session.user.id
    assert verified.principal.api_key_id == ""
    assert verified.principal.expire_time.seconds == token.claims["exp"]


async def test_expired_token_is_unauthenticated(platform: Platform) -> None:
    user = (await platform.register()).session.user
    key = await _ring(platform).active_key()
    expired = issue_access_token(
        key,
        settings=platform.settings,
        user_id=user.id,
        tenant_id=user.tenant_id,
        role=user.role,
        now=utcnow() - timedelta(hours=1),
    )

    code, message = await _get_me_code(platform, expired.token)

    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert message == "token expired"


async def test_tampered_token_is_unauthenticated(platform: Platform) -> None:
    session = (await platform.register()).session
    header, payload, signature = session.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["tid"] = "00000000-0000-0000-0000-000000000000"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    code, message = await _get_me_code(platform, f"{header}.{forged_payload}.{signature}")

    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert message == "invalid signature"


async def test_unknown_kid_and_foreign_key_are_unauthenticated(platform: Platform) -> None:
    user = (await platform.register()).session.user
    real_kid = (await _ring(platform).active_key()).kid
    stranger = generate_signing_key()
    unknown = issue_access_token(
        stranger, settings=platform.settings, user_id=user.id, tenant_id=user.tenant_id, role="owner"
    )
    impostor = jwt.encode(
        {"alg": ACCESS_TOKEN_ALGORITHM, "kid": real_kid},
        jwt.decode(unknown.token, stranger, algorithms=[ACCESS_TOKEN_ALGORITHM]).claims,
        stranger,
        algorithms=[ACCESS_TOKEN_ALGORITHM],
    )

    assert await _get_me_code(platform, unknown.token) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "unknown signing key",
    )
    assert await _get_me_code(platform, impostor) == (grpc.StatusCode.UNAUTHENTICATED, "invalid signature")


async def test_garbage_token_is_unauthenticated_not_internal(platform: Platform) -> None:
    for token in ("abc", "a.b.c", "gk_"):
        code, _ = await _get_me_code(platform, token)
        assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_rotation_publishes_the_new_key_and_keeps_the_old_one(platform: Platform) -> None:
    before = (await platform.register()).session
    ring = _ring(platform)
    old_kid = (await ring.active_key()).kid

    new_kid = await ring.rotate()
    after = (await platform.register()).session

    jwks = json.loads((await platform.auth.GetJwks(auth_pb2.GetJwksRequest())).jwks_json)
    assert {old_kid, new_kid} <= {key["kid"] for key in jwks["keys"]}
    assert (await ring.active_key()).kid == new_kid
    for session in (before, after):
        me = await platform.auth.GetMe(
            auth_pb2.GetMeRequest(), metadata=platform.metadata(session.access_token)
        )
        assert me.user.id == session.user.id


async def test_a_retired_key_leaves_the_jwks_once_its_tokens_have_expired(platform: Platform) -> None:
    ring = _ring(platform)
    old_kid = (await ring.active_key()).kid
    await ring.rotate()
    async with platform.deps.database.transaction() as db:
        old = await db.get(SigningKey, old_kid)
        assert old is not None
        assert old.not_after is not None
        assert old.retired_at is not None
        assert old.retired_at - old.not_after >= timedelta(seconds=platform.settings.access_token_ttl_seconds)
        old.retired_at = utcnow() - timedelta(seconds=1)

    jwks = json.loads((await platform.auth.GetJwks(auth_pb2.GetJwksRequest())).jwks_json)

    assert old_kid not in {key["kid"] for key in jwks["keys"]}
    assert (await ring.active_key()).kid in {key["kid"] for key in jwks["keys"]}
