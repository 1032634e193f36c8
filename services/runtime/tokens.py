"""Who is calling: JWT access tokens verified locally with cached public keys, API keys verified by auth.

The hot path (every GraphQL request, every RPC) must not call the auth service for a JWT: the public keys are
fetched once (`AuthService.GetJwks`) and kept `jwks_cache_seconds`. API keys (`gk_…`) are opaque, so auth
answers for them (`AuthService.VerifyToken`), cached for a few seconds under a hash of the key.

Tokens the auth service issues: header {alg: "Ed25519" (or "EdDSA"), kid}, payload {iss, aud, sub: user id,
tid: tenant id, role, iat, nbf, exp, jti}. Every token failure raises `Unauthenticated` with a short message.

Service processes also accept the platform's service token (`gks_…`, services.runtime.service_identity) when
given the secret key; the gateway is not, so the token never works at the public edge.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    SecurityWarning,
)
from joserfc.jwk import OKPKey, RSAKey

from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from services.runtime.context import Principal
from services.runtime.errors import ErrorCode, GekoError, Unauthenticated, UpstreamUnavailable
from services.runtime.logging import get_logger
from services.runtime.service_identity import (
    SERVICE_TOKEN_PREFIX,
    service_principal,
    service_token,
)
from services.runtime.settings import Settings
from services.runtime.types import JwksFetcher

if TYPE_CHECKING:
    from services.runtime.clients import Channels

API_KEY_PREFIX = "gk_"
# Asymmetric only: "none" and HS* would let anyone holding the public key forge tokens.
ALLOWED_ALGORITHMS = frozenset({"Ed25519", "EdDSA", "RS256"})
_KEY_TYPE_OF_ALG = {"Ed25519": "OKP", "EdDSA": "OKP", "RS256": "RSA"}
# "EdDSA" with an Ed25519 key and "Ed25519" are one algorithm under two names.
_ALG_FAMILY = {"Ed25519": "Ed25519", "EdDSA": "Ed25519", "RS256": "RS256"}
MAX_TOKEN_LENGTH = 8192
MAX_VERIFIED_TOKENS = 10_000
REQUIRED_CLAIMS = ("sub", "tid", "role")

VerifiedKey = OKPKey | RSAKey

log = get_logger(__name__)


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal:
        """The principal a bearer token speaks for; raises `Unauthenticated` when it speaks for no one."""
        ...


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _read_header(token: str) -> dict[str, Any]:
    try:
        header = _b64url_json(token.split(".", 1)[0])
    except (ValueError, binascii.Error, UnicodeError):
        raise Unauthenticated("malformed token") from None
    if not isinstance(header, dict):
        raise Unauthenticated("malformed token")
    return header


def _import_jwks(text: str) -> dict[str, tuple[VerifiedKey, str | None]]:
    """The usable signing keys of a JWK set by `kid`, each with its declared `alg`; others are skipped.

    The `alg` member is checked here rather than by joserfc, which would refuse "EdDSA" tokens for a key
    published as "Ed25519" (the same algorithm under its RFC 9864 name).
    """
    keys: dict[str, tuple[VerifiedKey, str | None]] = {}
    for entry in json.loads(text).get("keys", []):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if not isinstance(kid, str) or not kid:
            continue
        params = {name: value for name, value in entry.items() if name != "alg"}
        try:
            if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519":
                keys[kid] = (OKPKey.import_key(params), entry.get("alg"))
            elif entry.get("kty") == "RSA":
                keys[kid] = (RSAKey.import_key(params), entry.get("alg"))
        except (JoseError, ValueError, TypeError):
            log.warning("jwks_key_skipped", kid=kid)
    return keys


class JwksTokenVerifier:
    """Verifies JWTs with keys from `fetch_jwks` and API keys through `verify_remote`, caching both.

    An unknown `kid` (a key rotated in since the last fetch) triggers one refetch, at most every
    `min_refetch_seconds`, so a flood of forged kids cannot turn into a flood of calls to auth.
    With `service_key` (the platform secret key) it also accepts the service token of that key.
    """

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        verify_remote: Callable[[str], Awaitable[Principal]],
        settings: Settings,
        *,
        api_key_cache_seconds: float = 15.0,
        min_refetch_seconds: float = 5.0,
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.monotonic,
        service_key: bytes | None = None,
    ) -> None:
        self._fetch_jwks = fetch_jwks
        # The service token of `service_key` and its principal, derived once (an HMAC per call cost ~4 µs).
        self._service: tuple[bytes, Principal] | None = None
        if service_key is not None:
            expected = service_token(service_key)
            self._service = (expected.encode("ascii"), service_principal(expected))
        self._verify_remote = verify_remote
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._jwks_ttl = float(settings.jwks_cache_seconds)
        self._api_key_ttl = api_key_cache_seconds
        self._min_refetch = min_refetch_seconds
        self._leeway = leeway_seconds
        self._clock = clock
        self._keys: dict[str, tuple[VerifiedKey, str | None]] = {}
        self._fetched_at: float | None = None
        self._fetch_lock = asyncio.Lock()
        self._api_keys: dict[str, tuple[Principal, float]] = {}
        # Verified JWTs until they expire: every internal call of a chat turn carries the same token, and a
        # signature check costs more than the rest of a small RPC.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("malformed token")
        if token.startswith(API_KEY_PREFIX):
            return await self._verify_api_key(token)
        if token.startswith(SERVICE_TOKEN_PREFIX):
            if self._service is not None and hmac.compare_digest(token.encode(), self._service[0]):
                return self._service[1]
            raise Unauthenticated("invalid service token")
        if token.count(".") != 2:
            raise Unauthenticated("malformed token")
        return await self._verify_jwt(token)

    # ---- JWT ----

    async def _verify_jwt(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            fresh_keys = self._fetched_at is not None and self._clock() - self._fetched_at < self._jwks_ttl
            if fresh_keys and time.time() < cached[1]:
                return cached[0]
            del self._verified[token]
        principal, expires_at = await self._check_jwt(token)
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (principal, expires_at)
        return principal

    async def _check_jwt(self, token: str) -> tuple[Principal, float]:
        """The principal of a JWT whose signature and claims hold, and its expiry (epoch seconds)."""
        header = _read_header(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise Unauthenticated("unsupported token algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("unknown signing key")
        key, key_alg = await self._key_for(kid)
        if key.key_type != _KEY_TYPE_OF_ALG[alg] or _ALG_FAMILY.get(key_alg or alg) != _ALG_FAMILY[alg]:
            raise Unauthenticated("invalid signature")
        claims = self._decode(token, key, alg)
        principal = Principal(
            user_id=claims["sub"], tenant_id=claims["tid"], role=claims["role"], token=token
        )
        exp = claims.get("exp")
        return principal, float(exp) if isinstance(exp, int | float) else 0.0

    def _decode(self, token: str, key: VerifiedKey, alg: str) -> dict[str, Any]:
        try:
            with warnings.catch_warnings():
                # joserfc warns that "EdDSA" is superseded by "Ed25519" (RFC 9864); both are accepted here.
                warnings.simplefilter("ignore", SecurityWarning)
                decoded = jwt.decode(token, key, algorithms=[alg])
            self._claims_registry().validate(decoded.claims)
        except BadSignatureError:
            raise Unauthenticated("invalid signature") from None
        except ExpiredTokenError:
            raise Unauthenticated("token expired") from None
        except MissingClaimError as exc:
            raise Unauthenticated(f"missing claim: {exc.claim}") from None
        except InvalidClaimError as exc:
            message = "token not yet valid" if exc.claim in ("nbf", "iat") else f"invalid claim: {exc.claim}"
            raise Unauthenticated(message) from None
        except (JoseError, ValueError, TypeError):
            raise Unauthenticated("malformed token") from None
        claims = decoded.claims
        for name in REQUIRED_CLAIMS:
            if not isinstance(claims[name], str):
                raise Unauthenticated(f"invalid claim: {name}")
        return claims

    def _claims_registry(self) -> jwt.JWTClaimsRegistry:
        return jwt.JWTClaimsRegistry(
            leeway=self._leeway,
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
            sub={"essential": True},
            tid={"essential": True},
            role={"essential": True},
        )

    async def _key_for(self, kid: str) -> tuple[VerifiedKey, str | None]:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._jwks_ttl
        if stale or kid not in self._keys:
            await self._refresh(force=not stale)
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("unknown signing key")
        return key

    async def _refresh(self, *, force: bool) -> None:
        """Fetch the JWK set. A forced refetch (unknown kid) is skipped if one happened moments ago."""
        async with self._fetch_lock:
            now = self._clock()
            if self._fetched_at is not None:
                age = now - self._fetched_at
                if age < self._min_refetch or (not force and age < self._jwks_ttl):
                    return  # another task just refreshed, or refetches come too fast
            try:
                keys = _import_jwks(await self._fetch_jwks())
            except Exception as exc:  # auth down, or an answer that is not a JWK set
                if self._keys:  # keep verifying with the keys we have; auth may be restarting
                    log.warning("jwks_refresh_failed", error=type(exc).__name__)
                    self._fetched_at = now - self._jwks_ttl + self._min_refetch
                    return
                raise UpstreamUnavailable("cannot fetch the token signing keys, try again") from None
            self._keys = keys
            self._fetched_at = now
            self._verified.clear()  # a key may have been withdrawn: check every token again

    # ---- API keys ----

    async def _verify_api_key(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        cached = self._api_keys.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            principal = await self._verify_remote(key)
        except Unauthenticated:
            raise
        except GekoError as exc:
            if exc.code is ErrorCode.UNAUTHENTICATED:
                raise Unauthenticated(exc.message) from None
            # Auth unreachable is not the caller's fault: "sign in again" would be the wrong answer.
            raise UpstreamUnavailable("cannot verify the API key now, try again") from None
        except Exception:
            log.exception("api_key_verification_failed")
            raise UpstreamUnavailable("cannot verify the API key now, try again") from None
        if not principal.token:
            principal = replace(principal, token=key)
        if len(self._api_keys) >= 10_000:
            self._api_keys = {d: entry for d, entry in self._api_keys.items() if entry[1] > now}
        self._api_keys[digest] = (principal, now + self._api_key_ttl)
        return principal


def principal_from_proto(message: auth_pb2.Principal, token: str) -> Principal:
    """A `Principal` from a `geko.auth.v1.Principal` message (VerifyToken's answer)."""
    return Principal(
        user_id=message.user_id,
        tenant_id=message.tenant_id,
        role=message.role,
        token=token,
        api_key_id=message.api_key_id or None,
        scopes=tuple(message.scopes),
    )


def jwks_verifier_from_channels(
    channels: Channels, settings: Settings, *, service_key: bytes | None = None
) -> JwksTokenVerifier:
    """A verifier that asks the auth service over gRPC (`GetJwks`, `VerifyToken`) through `channels`;
    service processes pass the platform `service_key` so internal callers are accepted too."""

    def auth() -> auth_pb2_grpc.AuthServiceStub:
        return channels.stub("auth", auth_pb2_grpc.AuthServiceStub)  # looked up lazily: inside the event loop

    async def fetch_jwks() -> str:
        response = await auth().GetJwks(auth_pb2.GetJwksRequest())
        return str(response.jwks_json)

    async def verify_remote(token: str) -> Principal:
        response = await auth().VerifyToken(auth_pb2.VerifyTokenRequest(token=token))
        return principal_from_proto(response.principal, token)

    return JwksTokenVerifier(fetch_jwks, verify_remote, settings, service_key=service_key)
