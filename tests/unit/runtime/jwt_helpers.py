"""Test tokens: claims like the auth service issues, signed with keys the tests generate."""

import base64
import json
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey, RSAKey


def public_jwk(key: OKPKey | RSAKey, alg: str) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": key.kid, "alg": alg, "use": "sig"}


def b64_json(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "iss": "geko",
        "aud": "geko",
        "sub": "user-1",
        "tid": "tenant-1",
        "role": "admin",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j-1",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def sign(key: OKPKey | RSAKey, payload: dict[str, Any], alg: str = "Ed25519", kid: str | None = None) -> str:
    return jwt.encode({"alg": alg, "kid": kid or key.kid}, payload, key, algorithms=[alg])
