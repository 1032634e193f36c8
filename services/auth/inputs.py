"""Checks of the free-text fields of auth requests, each failing as BadInput naming its field."""

from __future__ import annotations

from collections.abc import Iterable

from services.runtime.errors import BadInput

MAX_NAME_LENGTH = 100

# What an API key may do. Coarse on purpose: a service maps each RPC to one of these (reads, changes, chat
# turns, tenant administration); a user session carries no scopes and has all of its user's rights.
API_KEY_SCOPES = ("read", "write", "chat", "admin")


def required_name(value: str, *, field: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """`value` trimmed; empty or longer than `max_length` characters is refused."""
    text = value.strip()
    if not text:
        raise BadInput(f"{field} is required", field=field)
    if len(text) > max_length:
        raise BadInput(f"{field} must be at most {max_length} characters", field=field)
    return text


def api_key_scopes(requested: Iterable[str]) -> tuple[str, ...]:
    """The requested scopes, de-duplicated in catalogue order; unknown or none at all is refused."""
    wanted = {scope.strip().lower() for scope in requested}
    unknown = sorted(wanted - set(API_KEY_SCOPES))
    if unknown:
        raise BadInput(
            f"unknown scope {', '.join(unknown)}: choose from {', '.join(API_KEY_SCOPES)}", field="scopes"
        )
    if not wanted:
        raise BadInput(f"choose at least one scope of {', '.join(API_KEY_SCOPES)}", field="scopes")
    return tuple(scope for scope in API_KEY_SCOPES if scope in wanted)
