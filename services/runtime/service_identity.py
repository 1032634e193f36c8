"""Service-to-service identity: one bearer token that every GEKO process derives from the shared secret key.

A background task (the outbox relay) calls other services with no user behind it, and some RPCs are for
internal callers only (AuditService.Record, VerifyAuditChain). The token is HMAC-SHA256 of a fixed label
under GEKO_SECRET_KEY — which every process must share anyway (SecretBox) — so all processes derive the same
token with no key exchange, and nobody without the key can make one. Verifiers answer it with a principal of
role "service" and no tenant or user: it speaks for the platform, never for a person.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from services.runtime.context import SERVICE_ROLE, Principal
from services.runtime.secrets import load_secret_key
from services.runtime.settings import Settings

SERVICE_TOKEN_PREFIX = "gks_"
_LABEL = b"geko-service-identity-v1"


def service_token(secret_key: bytes) -> str:
    """The platform's service token: deterministic for a given secret key."""
    digest = hmac.new(secret_key, _LABEL, hashlib.sha256).digest()
    return SERVICE_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def service_principal(token: str) -> Principal:
    """The principal a verified service token speaks for: the platform, with no user and no tenant."""
    return Principal(user_id="", tenant_id="", role=SERVICE_ROLE, token=token)


def service_metadata(settings: Settings) -> tuple[tuple[str, str], ...]:
    """Call metadata that authenticates as the platform itself, for calls no user makes (pass as `metadata=`;
    `Channels` then forwards it instead of a caller's authorization)."""
    return (("authorization", f"Bearer {service_token(load_secret_key(settings))}"),)
