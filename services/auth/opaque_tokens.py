"""Opaque secrets handed to clients (refresh tokens, API keys): made random, stored only as a SHA-256 hash.

A hash without a salt is enough here: the secrets carry 256 random bits, so there is nothing to guess, and a
plain digest lets the database look a presented secret up by an index.
"""

from __future__ import annotations

import hashlib
import secrets

from services.runtime.tokens import API_KEY_PREFIX

REFRESH_TOKEN_PREFIX = "gkr_"
# Characters of an API key kept in clear to recognise it in a list ("gk_" + 7 of the random part).
API_KEY_DISPLAY_LENGTH = 10


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def is_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of the secret, the only form in which it is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(api_key: str) -> str:
    return api_key[:API_KEY_DISPLAY_LENGTH]
