"""Access tokens: the claims services rely on, a lifetime of at most 15 minutes, and a signature that only the
published key verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from services.auth.access_tokens import ACCESS_TOKEN_ALGORITHM, issue_access_token
from services.auth.signing_keys import generate_signing_key, jwks_json, public_jwk
from services.runtime.settings import Settings

SETTINGS = Settings(jwt_issuer="geko-test", jwt_audience="geko-api", access_token_ttl_seconds=600)


def _published(*keys: object) -> KeySet:
    return KeySet.import_key_set(json.loads(jwks_json([public_jwk(key) for key in keys])))  # type: ignore[arg-type]


def _claims(token: str, keys: KeySet) -> dict[str, object]:
    return jwt.decode(token, keys, algorithms=[ACCESS_TOKEN_ALGORITHM]).claims


def test_claims_carry_user_tenant_role_and_a_bounded_lifetime() -> None:
    key = generate_signing_key()
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    issued = issue_access_token(key, settings=SETTINGS, user_id="u1", tenant_id="t1", role="owner", now=now)

    token = jwt.decode(issued.token, _published(key), algorithms=[ACCESS_TOKEN_ALGORITHM])
    assert token.header["kid"] == key.kid
    assert token.header["alg"] == ACCESS_TOKEN_ALGORITHM
    claims = token.claims
    assert claims["sub"] == "u1"
    assert claims["tid"] == "t1"
    assert claims["role"] == "owner"
    assert claims["iss"] == "geko-test"
    assert claims["aud"] == "geko-api"
    assert claims["iat"] == claims["nbf"] == int(now.timestamp())
    assert claims["exp"] - claims["iat"] == 600
    assert issued.expires_at == now + timedelta(seconds=600)
    assert claims["jti"]


def test_every_token_has_its_own_jti() -> None:
    key = generate_signing_key()
    first = issue_access_token(key, settings=SETTINGS, user_id="u", tenant_id="t", role="viewer")
    second = issue_access_token(key, settings=SETTINGS, user_id="u", tenant_id="t", role="viewer")

    published = _published(key)
    assert _claims(first.token, published)["jti"] != _claims(second.token, published)["jti"]


def test_lifetime_never_exceeds_fifteen_minutes() -> None:
    settings = Settings.model_construct(**{**SETTINGS.model_dump(), "access_token_ttl_seconds": 86400})
    key = generate_signing_key()

    issued = issue_access_token(key, settings=settings, user_id="u", tenant_id="t", role="admin")

    claims = _claims(issued.token, _published(key))

    assert claims["exp"] - claims["iat"] == 900  # type: ignore[operator]


def test_settings_refuse_a_ttl_above_fifteen_minutes() -> None:
    with pytest.raises(ValueError, match="900"):
        Settings(access_token_ttl_seconds=901)


def test_another_key_does_not_verify_the_token() -> None:
    signer, other = generate_signing_key(), generate_signing_key()
    issued = issue_access_token(signer, settings=SETTINGS, user_id="u", tenant_id="t", role="owner")
    forged_set = {"keys": [{**public_jwk(other), "kid": signer.kid}]}

    with pytest.raises(BadSignatureError):
        jwt.decode(issued.token, KeySet.import_key_set(forged_set), algorithms=[ACCESS_TOKEN_ALGORITHM])


def test_published_jwk_holds_no_private_part_and_names_its_key() -> None:
    key = generate_signing_key()

    jwk = public_jwk(key)

    assert "d" not in jwk
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": jwk["x"],
        "kid": key.kid,
        "alg": ACCESS_TOKEN_ALGORITHM,
        "use": "sig",
    }
    assert key.kid == key.thumbprint()
