"""Password hashing (argon2id) and the minimum password policy.

Hashing is deliberately slow, so the async helpers run it in a worker thread and never block the event loop.
`verify_password` also burns the same work for an unknown user (against a dummy hash), so "no such email" and
"wrong password" cannot be told apart by their answer or their timing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.runtime.errors import BadInput

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~40 ms on a small server, so login stays quick
# while an offline guess costs the attacker the same. Raising these upgrades old hashes at next login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of checking a password; `new_hash` is set when the stored hash used old parameters."""

    ok: bool
    new_hash: str | None = None


def check_password_policy(password: str, *, email: str = "") -> None:
    """Reject passwords below the minimum policy with a message that says what to change."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadInput(f"password must be at most {MAX_PASSWORD_LENGTH} characters", field="password")
    has_letter = any(ch.isalpha() for ch in password)
    has_other = any(not ch.isalpha() for ch in password)
    if not (has_letter and has_other):
        raise BadInput("password must mix letters with digits or symbols", field="password")
    if email and password.strip().lower() == email.strip().lower():
        raise BadInput("password must not be your email address", field="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, with the current parameters, to verify against for unknown users."""
    return _hasher.hash("geko-dummy-password-for-timing-parity")


def verify_password(stored_hash: str | None, password: str) -> Verification:
    """Check `password` against `stored_hash`; with no hash (unknown user) do the same work and fail."""
    try:
        _hasher.verify(stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verification(ok=False)
    if stored_hash is None:
        return Verification(ok=False)
    if _hasher.check_needs_rehash(stored_hash):
        return Verification(ok=True, new_hash=_hasher.hash(password))
    return Verification(ok=True)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> Verification:
    return await asyncio.to_thread(verify_password, stored_hash, password)
