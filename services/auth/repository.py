"""All SQL of the auth service. Methods take the tenant (or user) they act for; the service decides which."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.auth import ApiKey, RefreshToken, SigningKey, Tenant, User


class AuthRepository:
    """Reads and writes of tenants, users, refresh tokens, API keys and signing keys in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---- tenants and users ----

    async def add_tenant(self, *, name: str, plan: str) -> Tenant:
        tenant = Tenant(name=name, plan=plan)
        self.session.add(tenant)
        await self.session.flush()
        return tenant

    async def add_user(self, *, tenant_id: str, email: str, name: str, role: str, password_hash: str) -> User:
        user = User(tenant_id=tenant_id, email=email, name=name, role=role, password_hash=password_hash)
        self.session.add(user)
        await self.session.flush()  # a duplicate email fails here, inside the caller's transaction
        return user

    async def tenant(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def tenant_of_email(self, email: str) -> Tenant | None:
        query = select(Tenant).join(User, User.tenant_id == Tenant.id).where(User.email == email)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def user_by_email(self, email: str) -> User | None:
        return (await self.session.execute(select(User).where(User.email == email))).scalar_one_or_none()

    async def user(self, user_id: str, *, tenant_id: str) -> User | None:
        query = select(User).where(User.id == user_id, User.tenant_id == tenant_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def users(self, ids: Sequence[str], *, tenant_id: str) -> Sequence[User]:
        query = select(User).where(User.id.in_(ids), User.tenant_id == tenant_id)
        return (await self.session.execute(query)).scalars().all()

    async def users_by_email(self, emails: Sequence[str], *, tenant_id: str) -> Sequence[User]:
        query = select(User).where(User.email.in_(emails), User.tenant_id == tenant_id)
        return (await self.session.execute(query)).scalars().all()

    async def list_users(self, *, tenant_id: str | None, limit: int) -> Sequence[User]:
        query = select(User).order_by(User.created_at, User.id).limit(limit)
        if tenant_id is not None:
            query = query.where(User.tenant_id == tenant_id)
        return (await self.session.execute(query)).scalars().all()

    async def record_login(self, user_id: str, *, at: datetime, new_password_hash: str | None) -> None:
        values: dict[str, object] = {"last_login_at": at}
        if new_password_hash is not None:
            values["password_hash"] = new_password_hash
        await self.session.execute(update(User).where(User.id == user_id).values(**values))

    async def set_plan(self, tenant_id: str, plan: str) -> None:
        await self.session.execute(update(Tenant).where(Tenant.id == tenant_id).values(plan=plan))

    async def delete_tenant(self, tenant_id: str) -> None:
        """Removes a tenant and, by cascade, its users and their tokens and keys."""
        user_ids = (await self.session.execute(select(User.id).where(User.tenant_id == tenant_id))).scalars()
        await self._delete_users(list(user_ids))
        await self.session.execute(delete(Tenant).where(Tenant.id == tenant_id))

    async def delete_user(self, user_id: str) -> None:
        """Removes a user and their tokens and keys."""
        await self._delete_users([user_id])

    async def _delete_users(self, user_ids: Sequence[str]) -> None:
        # Tokens and keys explicitly too, so the outcome does not hang on the database enforcing cascades.
        await self.session.execute(delete(RefreshToken).where(RefreshToken.user_id.in_(user_ids)))
        await self.session.execute(delete(ApiKey).where(ApiKey.user_id.in_(user_ids)))
        await self.session.execute(delete(User).where(User.id.in_(user_ids)))

    # ---- refresh tokens ----

    async def add_refresh_token(
        self,
        *,
        user: User,
        family_id: str,
        parent_id: str | None,
        token_hash: str,
        expires_at: datetime,
        ip: str | None,
        user_agent: str | None,
    ) -> RefreshToken:
        token = RefreshToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            family_id=family_id,
            parent_id=parent_id,
            token_hash=token_hash,
            expires_at=expires_at,
            ip=ip,
            user_agent=user_agent,
        )
        self.session.add(token)
        await self.session.flush()
        return token

    async def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        query = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def mark_rotated(self, token_id: str, *, at: datetime) -> bool:
        """Marks a live token rotated; False when another request rotated or revoked it first."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def revoke_family(self, family_id: str, *, at: datetime, reason: str) -> int:
        """Revokes the family's live tokens; how many there were (0: it was already revoked)."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at, revoke_reason=reason)
        )
        return int(getattr(result, "rowcount", 0))

    # ---- API keys ----

    async def add_api_key(
        self, *, user: User, name: str, prefix: str, key_hash: str, scopes: Sequence[str]
    ) -> ApiKey:
        key = ApiKey(
            tenant_id=user.tenant_id,
            user_id=user.id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            scopes=list(scopes),
        )
        self.session.add(key)
        await self.session.flush()
        return key

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        return (
            await self.session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))
        ).scalar_one_or_none()

    async def api_key(self, key_id: str, *, tenant_id: str, user_id: str) -> ApiKey | None:
        query = select(ApiKey).where(
            ApiKey.id == key_id, ApiKey.tenant_id == tenant_id, ApiKey.user_id == user_id
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def api_keys(
        self, *, tenant_id: str, user_id: str, before_id: str | None, limit: int
    ) -> Sequence[ApiKey]:
        """The user's keys, newest first (ids are time-ordered), starting below `before_id`."""
        query = select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.user_id == user_id)
        if before_id is not None:
            query = query.where(ApiKey.id < before_id)
        query = query.order_by(ApiKey.id.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def count_api_keys(self, *, tenant_id: str, user_id: str) -> int:
        query = (
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.tenant_id == tenant_id, ApiKey.user_id == user_id)
        )
        return int((await self.session.execute(query)).scalar_one())

    async def touch_api_key(self, key_id: str, *, at: datetime, unless_since: datetime) -> None:
        """Sets last_used_at unless it is already newer than `unless_since` (one write a minute at most)."""
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < unless_since)
            )
            .values(last_used_at=at)
        )

    # ---- signing keys ----

    async def published_signing_keys(self, *, now: datetime) -> Sequence[SigningKey]:
        """Keys whose tokens may still be live, newest first."""
        query = (
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid.desc())
        )
        return (await self.session.execute(query)).scalars().all()

    async def add_signing_key(self, key: SigningKey) -> None:
        self.session.add(key)
        await self.session.flush()

    async def stop_signing(self, *, except_kid: str, at: datetime, retire_at: datetime) -> None:
        """Every other key stops signing now and leaves the JWK set at `retire_at`."""
        await self.session.execute(
            update(SigningKey)
            .where(SigningKey.kid != except_kid, SigningKey.not_after.is_(None))
            .values(not_after=at, retired_at=retire_at)
        )
