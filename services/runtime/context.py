"""Who is calling and which request this is, carried in ContextVars through one RPC or HTTP request."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from services.runtime.errors import Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller. `token` is kept so internal calls can act on the caller's behalf."""

    user_id: str
    tenant_id: str
    role: str
    token: str = field(repr=False, default="")
    api_key_id: str | None = None
    # Empty for a user session; an API key's scopes otherwise.
    scopes: tuple[str, ...] = ()


current_principal: ContextVar[Principal | None] = ContextVar("geko_principal", default=None)
current_request_id: ContextVar[str | None] = ContextVar("geko_request_id", default=None)
current_peer_ip: ContextVar[str | None] = ContextVar("geko_peer_ip", default=None)
current_user_agent: ContextVar[str | None] = ContextVar("geko_user_agent", default=None)


def require_principal() -> Principal:
    """The caller of this RPC, or UNAUTHENTICATED; services read tenant_id here, never from the request."""
    principal = current_principal.get()
    if principal is None:
        raise Unauthenticated("sign in first: missing or invalid authorization")
    return principal


def new_request_id() -> str:
    return uuid.uuid4().hex
