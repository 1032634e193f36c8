"""API keys: how scripts and internal callers authenticate. Shown once, stored as a SHA-256 hash, scoped.

A key acts for the user who made it, with that user's current role, narrowed to the key's scopes. Creating
and revoking one is audited (APIKEY_CREATED, APIKEY_REVOKED: name and scopes, never the key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.models.auth import ApiKey
from services.auth.inputs import api_key_scopes, required_name
from services.auth.opaque_tokens import display_prefix, hash_secret, new_api_key
from services.auth.repository import AuthRepository
from services.events.audit import AuditAction, record_audit
from services.runtime.clock import utcnow
from services.runtime.context import Principal, require_principal
from services.runtime.database import Database
from services.runtime.errors import Forbidden, NotFound, Unauthenticated
from services.runtime.ids import parse_id
from services.runtime.paging import Page, decode_page_token, encode_page_token, page_size

# last_used_at is a hint for humans ("used 3 minutes ago"): one write a minute per key is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVALID_API_KEY = "invalid API key"


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    key: str  # the whole key: in this answer only
    api_key: ApiKey


@dataclass(frozen=True, slots=True)
class VerifiedApiKey:
    principal: Principal
    api_key: ApiKey


class ApiKeyService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, name: str, scopes: Sequence[str]) -> CreatedApiKey:
        principal = require_principal()
        _require_user_or_admin_key(principal)
        name = required_name(name, field="name")
        chosen = api_key_scopes(scopes)
        key = new_api_key()
        async with self._db.transaction() as session:
            repository = AuthRepository(session)
            user = await repository.user(principal.user_id, tenant_id=principal.tenant_id)
            if user is None or not user.is_active:
                raise Unauthenticated("this account no longer exists or is disabled")
            row = await repository.add_api_key(
                user=user, name=name, prefix=display_prefix(key), key_hash=hash_secret(key), scopes=chosen
            )
            await _record(session, AuditAction.APIKEY_CREATED, row)
        return CreatedApiKey(key=key, api_key=row)

    async def list(self, *, size: int, token: str) -> Page[ApiKey]:
        """The caller's own keys, newest first, revoked ones included (with their revoke time)."""
        principal = require_principal()
        limit = page_size(size)
        before_id = decode_page_token(token)
        async with self._db.session() as session:
            repository = AuthRepository(session)
            rows = await repository.api_keys(
                tenant_id=principal.tenant_id, user_id=principal.user_id, before_id=before_id, limit=limit + 1
            )
            total = await repository.count_api_keys(tenant_id=principal.tenant_id, user_id=principal.user_id)
        items = list(rows[:limit])
        next_token = encode_page_token(items[-1].id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    async def revoke(self, key_id: str) -> ApiKey:
        """Revokes one of the caller's keys (idempotent); anyone else's key is NOT_FOUND."""
        principal = require_principal()
        _require_user_or_admin_key(principal)
        known = parse_id(key_id)
        async with self._db.transaction() as session:
            repository = AuthRepository(session)
            row = None
            if known is not None:
                row = await repository.api_key(
                    known, tenant_id=principal.tenant_id, user_id=principal.user_id
                )
            if row is None:
                raise NotFound("no such API key")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                await _record(session, AuditAction.APIKEY_REVOKED, row)
        return row

    async def verify(self, key: str) -> VerifiedApiKey:
        """The principal an API key speaks for; revoked, expired and unknown keys are UNAUTHENTICATED."""
        now = utcnow()
        async with self._db.session() as session:
            repository = AuthRepository(session)
            row = await repository.api_key_by_hash(hash_secret(key))
            if row is None:
                raise Unauthenticated(INVALID_API_KEY)
            user = await repository.user(row.user_id, tenant_id=row.tenant_id)
        if row.revoked_at is not None:
            raise Unauthenticated("API key revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated("API key expired")
        if user is None or not user.is_active:
            raise Unauthenticated(INVALID_API_KEY)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            async with self._db.transaction() as session:
                await AuthRepository(session).touch_api_key(
                    row.id, at=now, unless_since=now - LAST_USED_RESOLUTION
                )
        principal = Principal(
            user_id=user.id,
            tenant_id=user.tenant_id,
            role=user.role,
            token=key,
            api_key_id=row.id,
            scopes=tuple(row.scopes),
        )
        return VerifiedApiKey(principal=principal, api_key=row)


def _require_user_or_admin_key(principal: Principal) -> None:
    """Keys are managed by their user; a key may manage keys only if it has the admin scope."""
    if principal.api_key_id is not None and "admin" not in principal.scopes:
        raise Forbidden("an API key needs the admin scope to manage API keys")


async def _record(session: AsyncSession, action: AuditAction, key: ApiKey) -> None:
    await record_audit(
        session,
        service="auth",
        action=action,
        tenant_id=key.tenant_id,
        resource_type="api_key",
        resource_id=key.id,
        actor_user_id=key.user_id,
        details={"name": key.name, "scopes": list(key.scopes)},
    )
