"""Short-lived JWT access tokens, signed with the active Ed25519 key and named by its `kid`.

The algorithm is RFC 9864's fully specified "Ed25519" (the successor of the polymorphic "EdDSA", which joserfc
flags as deprecated). Verifiers read it from the token header and the published JWK's `alg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc import jwt
from joserfc.jwk import OKPKey

from services.runtime.clock import utcnow
from services.runtime.ids import new_id
from services.runtime.settings import Settings

ACCESS_TOKEN_ALGORITHM = "Ed25519"
MAX_ACCESS_TOKEN_TTL_SECONDS = 900


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_at: datetime


def access_token_ttl(settings: Settings) -> timedelta:
    """The configured lifetime, never above 15 minutes whatever the settings say."""
    return timedelta(seconds=min(settings.access_token_ttl_seconds, MAX_ACCESS_TOKEN_TTL_SECONDS))


def issue_access_token(
    key: OKPKey,
    *,
    settings: Settings,
    user_id: str,
    tenant_id: str,
    role: str,
    now: datetime | None = None,
) -> IssuedAccessToken:
    """Sign the claims every service needs to act for the caller without asking auth again."""
    issued_at = now or utcnow()
    expires_at = issued_at + access_token_ttl(settings)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user_id,
        "tid": tenant_id,
        "role": role,
        "iat": int(issued_at.timestamp()),
        "nbf": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": new_id(),
    }
    header = {"alg": ACCESS_TOKEN_ALGORITHM, "kid": key.kid}
    token = jwt.encode(header, claims, key, algorithms=[ACCESS_TOKEN_ALGORITHM])
    return IssuedAccessToken(token=token, expires_at=expires_at.replace(microsecond=0))
