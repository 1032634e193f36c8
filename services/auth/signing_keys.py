"""The Ed25519 keys that sign access tokens, and the JWK set that lets every service verify them offline.

A key's `kid` is its RFC 7638 thumbprint. Keys live in the `signing_keys` table with the private half
encrypted by `SecretBox`; the first is made on first use. Rotation makes a new key active and keeps the old
one published until every token it signed has expired, so no signed-in user is thrown out by a rotation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from joserfc.jwk import OKPKey

from db.models.auth import SigningKey
from services.auth.access_tokens import ACCESS_TOKEN_ALGORITHM, access_token_ttl
from services.auth.repository import AuthRepository
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.secrets import SecretBox
from services.runtime.settings import Settings

KEY_CURVE: Final = "Ed25519"
# Extra time a key stays published after its last possible token expired: covers verifiers' clock leeway
# (30 s) and auth processes still signing with a cached key after a rotation (ACTIVE_KEY_CACHE_SECONDS).
RETIRE_LEEWAY_SECONDS = 60
ACTIVE_KEY_CACHE_SECONDS = 30.0


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


class SigningKeyRing:
    """The active signing key (kept `cache_seconds`) and the published JWK set (read fresh every time).

    The JWK set is never stale: a verifier that meets an unknown `kid` refetches it, and must then find the
    key another auth process just rotated in. The active key may lag a rotation by `cache_seconds`, which is
    harmless: the previous key stays published.
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        settings: Settings,
        *,
        cache_seconds: float = ACTIVE_KEY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._box = box
        self._settings = settings
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._active: tuple[OKPKey, float] | None = None  # (key, loaded at)

    async def active_key(self) -> OKPKey:
        """The key to sign with now; the first call on an empty table makes one."""
        cached = self._active
        if cached is not None and self._clock() - cached[1] < self._cache_seconds:
            return cached[0]
        active, _ = await self._load()
        key = load_private_jwk(self._box.decrypt(active.private_key_encrypted.decode()).decode(), active.kid)
        self._active = (key, self._clock())
        return key

    async def jwks_json(self) -> str:
        """Every key whose tokens may still be live, as a JWK set."""
        _, published = await self._load()
        return jwks_json(row.public_jwk for row in published)

    async def rotate(self) -> str:
        """Makes a new key active; the others stop signing and stay published until their tokens expire."""
        async with self._lock:
            now = utcnow()
            row = self._row(generate_signing_key(), now)
            async with self._db.transaction() as session:
                repository = AuthRepository(session)
                await repository.add_signing_key(row)
                await repository.stop_signing(except_kid=row.kid, at=now, retire_at=now + self._overlap())
            self._active = None
            return row.kid

    def _overlap(self) -> timedelta:
        """How long a key stays published after it stops signing: its last token's life plus leeway."""
        return access_token_ttl(self._settings) + timedelta(seconds=RETIRE_LEEWAY_SECONDS)

    async def _load(self) -> tuple[SigningKey, Sequence[SigningKey]]:
        """(the newest key that signs, every published key), making the first key when there is none."""
        async with self._lock:
            now = utcnow()
            async with self._db.transaction() as session:
                repository = AuthRepository(session)
                published = await repository.published_signing_keys(now=now)
                signing = [row for row in published if row.not_after is None]
                if signing:
                    # Two processes starting together may each make a key: both published, the newest signs.
                    return signing[0], published
                row = self._row(generate_signing_key(), now)
                await repository.add_signing_key(row)
                return row, [row, *published]

    def _row(self, key: OKPKey, now: datetime) -> SigningKey:
        return SigningKey(
            kid=key.thumbprint(),
            algorithm=ACCESS_TOKEN_ALGORITHM,
            private_key_encrypted=self._box.encrypt(private_jwk_json(key)).encode("ascii"),
            public_jwk=public_jwk(key),
            created_at=now,
        )
