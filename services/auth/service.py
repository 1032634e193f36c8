"""The rules of accounts and sessions: register, login, refresh-token rotation, logout, who-am-I.

Refresh tokens are opaque and stored hashed. Each login starts a family; every refresh marks the presented
token rotated and issues its child. A rotated or revoked token presented again means it leaked (or a client
is confused): the whole family is revoked, so a thief holding either copy is signed out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc.jwk import OKPKey
from sqlalchemy.exc import IntegrityError

from db.models.auth import USER_ROLES, Tenant, User
from services.auth.access_tokens import IssuedAccessToken, issue_access_token
from services.auth.emails import normalize_email
from services.auth.inputs import required_name
from services.auth.opaque_tokens import hash_secret, new_refresh_token
from services.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    check_password_policy,
    hash_password_async,
    verify_password_async,
)
from services.auth.repository import AuthRepository
from services.auth.signing_keys import SigningKeyRing
from services.runtime.backends import RateLimiter
from services.runtime.clock import utcnow
from services.runtime.context import current_peer_ip, current_user_agent, require_principal
from services.runtime.database import Database
from services.runtime.errors import (
    BadInput,
    Conflict,
    RateLimited,
    Unauthenticated,
    UpstreamUnavailable,
)
from services.runtime.ids import new_id, parse_id
from services.runtime.logging import get_logger
from services.runtime.settings import Settings

MAX_BATCH_USERS = 500
MAX_IP_LENGTH = 64  # the column's size; a forwarded address is only a hint
MAX_USER_AGENT_LENGTH = 1000
DEFAULT_WORKSPACE_NAME = "General"

INVALID_LOGIN = "invalid email or password"
INVALID_REFRESH = "invalid refresh token"
REUSED_REFRESH = "refresh token reused; session revoked"

# Creates the default workspace of a new account, acting as its owner (whose access token it gets); returns
# the workspace id. The servicer wires it to WorkspaceService.CreateWorkspace over gRPC.
CreateWorkspace = Callable[[str, str], Awaitable[str]]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: what Register, Login and Refresh answer."""

    user: User
    tenant: Tenant
    access_token: IssuedAccessToken
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True, slots=True)
class Registered:
    session: SignedIn
    default_workspace_id: str


async def create_account(
    db: Database,
    *,
    email: str,
    password: str,
    name: str,
    role: str,
    tenant_name: str | None = None,
    tenant_id: str | None = None,
) -> tuple[User, Tenant]:
    """A user in a new tenant (`tenant_name`) or an existing one (`tenant_id`), by the same rules for
    self-registration and for operators."""
    email = normalize_email(email)
    name = required_name(name, field="name")
    if role not in USER_ROLES:
        raise BadInput(f"role must be one of {', '.join(USER_ROLES)}", field="role")
    if tenant_id is None:
        tenant_name = required_name(tenant_name or "", field="tenant_name")
    check_password_policy(password, email=email)
    password_hash = await hash_password_async(password)
    try:
        async with db.transaction() as session:
            repository = AuthRepository(session)
            if await repository.user_by_email(email) is not None:
                raise Conflict("an account with this email already exists", field="email")
            if tenant_id is None:
                tenant = await repository.add_tenant(name=tenant_name or "", plan="free")
            else:
                found = await repository.tenant(tenant_id)
                if found is None:
                    raise BadInput("no such tenant", field="tenant_id")
                tenant = found
            user = await repository.add_user(
                tenant_id=tenant.id, email=email, name=name, role=role, password_hash=password_hash
            )
    except IntegrityError:  # a concurrent registration of the same email won the race
        raise Conflict("an account with this email already exists", field="email") from None
    return user, tenant


class AuthService:
    """Accounts and sessions. One instance per process; every method runs its own transaction."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        keys: SigningKeyRing,
        rate_limiter: RateLimiter,
        create_workspace: CreateWorkspace,
    ) -> None:
        self._db = db
        self._settings = settings
        self._keys = keys
        self._rate_limiter = rate_limiter
        self._create_workspace = create_workspace

    # ---- accounts ----

    async def register(self, *, email: str, password: str, name: str, tenant_name: str) -> Registered:
        """A new tenant on the free plan, its owner, and a default workspace; all of it or none of it."""
        await self._limit("register", "ip", current_peer_ip.get(), self._settings.login_rate_per_ip)
        email = normalize_email(email)
        await self._limit("register", "email", email, self._settings.login_rate_per_email)
        user, tenant = await create_account(
            self._db, email=email, password=password, name=name, tenant_name=tenant_name, role="owner"
        )
        key = await self._keys.active_key()
        async with self._db.transaction() as db_session:
            session = await self._start_session(AuthRepository(db_session), key, user, tenant)
        # Nothing half-written: if the workspace cannot be made, the account goes again.
        try:
            workspace_id = await self._create_workspace(
                tenant.name or DEFAULT_WORKSPACE_NAME, session.access_token.token
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._delete_tenant(tenant.id))
            raise
        except Exception as error:
            await self._delete_tenant(tenant.id)
            log.warning("register_workspace_failed", tenant_id=tenant.id, error=repr(error))
            raise UpstreamUnavailable(
                "could not create your workspace; nothing was saved, try again"
            ) from None
        return Registered(session=session, default_workspace_id=workspace_id)

    async def login(self, *, email: str, password: str) -> SignedIn:
        """A session for the right password; unknown email and wrong password answer alike, in like time."""
        await self._limit("login", "ip", current_peer_ip.get(), self._settings.login_rate_per_ip)
        email = normalize_email(email)
        await self._limit("login", "email", email, self._settings.login_rate_per_email)
        if len(password) > MAX_PASSWORD_LENGTH:  # no account has one; refused before any hashing work
            raise Unauthenticated(INVALID_LOGIN)
        async with self._db.session() as session:
            user = await AuthRepository(session).user_by_email(email)
        verification = await verify_password_async(user.password_hash if user else None, password)
        if user is None or not verification.ok:
            raise Unauthenticated(INVALID_LOGIN)
        if not user.is_active:
            raise Unauthenticated("this account is disabled")
        key = await self._keys.active_key()
        async with self._db.transaction() as session:
            repository = AuthRepository(session)
            tenant = await repository.tenant(user.tenant_id)
            if tenant is None:
                raise Unauthenticated(INVALID_LOGIN)
            await repository.record_login(user.id, at=utcnow(), new_password_hash=verification.new_hash)
            return await self._start_session(repository, key, user, tenant)

    async def me(self) -> tuple[User, Tenant]:
        """The signed-in caller and their tenant."""
        principal = require_principal()
        async with self._db.session() as session:
            repository = AuthRepository(session)
            user = await repository.user(principal.user_id, tenant_id=principal.tenant_id)
            tenant = await repository.tenant(principal.tenant_id)
        if user is None or tenant is None or not user.is_active:
            raise Unauthenticated("this account no longer exists or is disabled")
        return user, tenant

    async def users(self, ids: Sequence[str]) -> tuple[Sequence[User], Tenant | None]:
        """Users of the caller's tenant among `ids`; ids of other tenants are simply not found."""
        principal = require_principal()
        if len(ids) > MAX_BATCH_USERS:
            raise BadInput(f"at most {MAX_BATCH_USERS} ids per call", field="ids")
        wanted = list(dict.fromkeys(known for value in ids if (known := parse_id(value)) is not None))
        async with self._db.session() as session:
            repository = AuthRepository(session)
            users = await repository.users(wanted, tenant_id=principal.tenant_id) if wanted else []
            tenant = await repository.tenant(principal.tenant_id)
        order = {user_id: index for index, user_id in enumerate(wanted)}
        return sorted(users, key=lambda user: order[user.id]), tenant

    # ---- sessions ----

    async def refresh(self, refresh_token: str) -> SignedIn:
        """Rotates a live refresh token; a reused one revokes its whole family."""
        now = utcnow()
        failure: tuple[str, str] | None = None  # (revoke reason, message)
        key = await self._keys.active_key()
        async with self._db.transaction() as session:
            repository = AuthRepository(session)
            token = await repository.refresh_token_by_hash(hash_secret(refresh_token))
            if token is None:
                raise Unauthenticated(INVALID_REFRESH)
            user = await repository.user(token.user_id, tenant_id=token.tenant_id)
            tenant = await repository.tenant(token.tenant_id)
            if token.rotated_at is not None or token.revoked_at is not None:
                failure = ("reuse", REUSED_REFRESH)
            elif token.expires_at <= now:
                failure = ("expired", "refresh token expired; sign in again")
            elif user is None or tenant is None or not user.is_active:
                failure = ("disabled", "this account no longer exists or is disabled")
            elif not await repository.mark_rotated(token.id, at=now):
                failure = ("reuse", REUSED_REFRESH)  # a concurrent refresh with this token got there first
            if failure is None and user is not None and tenant is not None:
                # The rotation and its child commit together: a failed insert never strands the session.
                return await self._start_session(
                    repository, key, user, tenant, family_id=token.family_id, parent_id=token.id
                )
            reason, message = failure or ("disabled", "this account no longer exists or is disabled")
            await repository.revoke_family(token.family_id, at=now, reason=reason)
        # Raised once the transaction has committed, so the revocation is kept.
        if reason == "reuse":
            log.warning("refresh_token_reused", family_id=token.family_id, user_id=token.user_id)
        raise Unauthenticated(message)

    async def logout(self, refresh_token: str) -> None:
        """Revokes the session the token belongs to; unknown or already revoked tokens are fine."""
        async with self._db.transaction() as session:
            repository = AuthRepository(session)
            token = await repository.refresh_token_by_hash(hash_secret(refresh_token))
            if token is not None:
                await repository.revoke_family(token.family_id, at=utcnow(), reason="logout")

    async def _start_session(
        self,
        repository: AuthRepository,
        key: OKPKey,
        user: User,
        tenant: Tenant,
        *,
        family_id: str | None = None,
        parent_id: str | None = None,
    ) -> SignedIn:
        """Signs an access token and stores a new refresh token in the caller's transaction.

        The signing key is fetched by the caller before its transaction opens: creating the first key
        writes in a transaction of its own, which SQLite would block behind the caller's write lock."""
        now = utcnow()
        access = issue_access_token(
            key, settings=self._settings, user_id=user.id, tenant_id=tenant.id, role=user.role, now=now
        )
        refresh = new_refresh_token()
        expires_at = now + timedelta(seconds=self._settings.refresh_token_ttl_seconds)
        user_agent = current_user_agent.get()
        await repository.add_refresh_token(
            user=user,
            family_id=family_id or new_id(),
            parent_id=parent_id,
            token_hash=hash_secret(refresh),
            expires_at=expires_at,
            ip=(current_peer_ip.get() or "")[:MAX_IP_LENGTH] or None,
            user_agent=user_agent[:MAX_USER_AGENT_LENGTH] if user_agent else None,
        )
        return SignedIn(user, tenant, access, refresh, expires_at)

    # ---- helpers ----

    async def _delete_tenant(self, tenant_id: str) -> None:
        async with self._db.transaction() as session:
            await AuthRepository(session).delete_tenant(tenant_id)

    async def _limit(self, action: str, kind: str, subject: str | None, limit: int) -> None:
        """One attempt against the `kind` bucket of `subject`; over the limit answers RATE_LIMITED."""
        if subject is None:  # no peer address (in-process callers): nothing to count
            return
        decision = await self._rate_limiter.hit(
            f"auth:{action}:{kind}:{subject}", limit, self._settings.login_rate_window_seconds
        )
        if not decision.allowed:
            raise RateLimited(
                f"too many {action} attempts, try again in {decision.retry_after_seconds} s",
                retry_after_seconds=max(1, decision.retry_after_seconds),
            )
