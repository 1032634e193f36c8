"""The Ed25519 keys that sign access tokens, and the JWK set that lets every service verify them offline.

A key's `kid` is its RFC 7638 thumbprint. Keys live in the `signing_keys` table with the private half
encrypted by `SecretBox`; the first is made on first use. Rotation makes a new key active and keeps the old
one published until every token it signed has expired, so no signed-in user is thrown out by a rotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from joserfc.jwk import OKPKey

from services.auth.access_tokens import ACCESS_TOKEN_ALGORITHM

KEY_CURVE = "Ed25519"


def generate_signing_key() -> OKPKey:
    """A new Ed25519 key whose `kid` is its thumbprint."""
    return OKPKey.generate_key(KEY_CURVE, auto_kid=True)  # auto_kid: the RFC 7638 thumbprint


def public_jwk(key: OKPKey) -> dict[str, Any]:
    """The public half as a JWK, naming its `kid`, algorithm and use."""
    jwk = key.as_dict(private=False)
    return {
        "kty": jwk["kty"],
        "crv": jwk["crv"],
        "x": jwk["x"],
        "kid": key.kid,
        "alg": ACCESS_TOKEN_ALGORITHM,
        "use": "sig",
    }


def private_jwk_json(key: OKPKey) -> str:
    """The private key as JSON text, the form that is encrypted and stored."""
    return json.dumps(key.as_dict(private=True), separators=(",", ":"), sort_keys=True)


def load_private_jwk(text: str, kid: str) -> OKPKey:
    return OKPKey.import_key(json.loads(text), {"kid": kid})


def jwks_json(keys: Iterable[Mapping[str, Any]]) -> str:
    """An RFC 7517 JWK set of the given public JWKs."""
    return json.dumps({"keys": list(keys)}, separators=(",", ":"))
