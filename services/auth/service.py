"""The rules of accounts and sessions: register, join by invitation, login, refresh-token rotation, logout.

Refresh tokens are opaque and stored hashed. Each login starts a family; every refresh marks the presented
token rotated and issues its child. A rotated or revoked token presented again means it leaked (or a client
is confused): the whole family is revoked, so a thief holding either copy is signed out.

What an admin would ask about is recorded with `record_audit`, in the transaction of the change itself:
USER_REGISTERED, USER_LOGIN, LOGIN_FAILED, TOKEN_REUSE_DETECTED (API keys: services/auth/api_keys.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from joserfc.jwk import OKPKey
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.auth import USER_ROLES, Tenant, User
from services.auth.access_tokens import IssuedAccessToken, issue_access_token
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
from services.events.audit import AuditAction, record_audit
from services.runtime.backends import RateLimiter
from services.runtime.clock import utcnow
from services.runtime.context import current_peer_ip, current_user_agent, require_principal
from services.runtime.database import Database
from services.runtime.emails import normalize_email
from services.runtime.errors import (
    BadInput,
    Conflict,
    GekoError,
    RateLimited,
    Unauthenticated,
    UpstreamUnavailable,
)
from services.runtime.ids import new_id, parse_id
from services.runtime.logging import get_logger
from services.runtime.settings import Settings

AUDIT_SERVICE = "auth"
MAX_BATCH_USERS = 500
MAX_IP_LENGTH = 64  # the column's size; a forwarded address is only a hint
MAX_USER_AGENT_LENGTH = 1000
DEFAULT_WORKSPACE_NAME = "General"
# Tenant-level role of an account made from an invitation: the least one. What the invitee may do in the
# workspace is the invitation's workspace role; a workspace invitation never grants tenant-wide rights.
INVITEE_ROLE = "viewer"

INVALID_LOGIN = "invalid email or password"
INVALID_REFRESH = "invalid refresh token"
REUSED_REFRESH = "refresh token reused; session revoked"
ACCOUNT_EXISTS_SIGN_IN = "an account with this email already exists; sign in and accept the invitation"

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InvitationTarget:
    """What an invitation token stands for (WorkspaceService.ResolveInvitation's answer)."""

    email: str
    tenant_id: str
    workspace_id: str


class Workspaces(Protocol):
    """What auth asks of the workspace service (over gRPC: `services.auth.servicer.GrpcWorkspaces`).

    `access_token` is the new user's own: the workspace service acts for them, as for any signed-in caller.
    Failures are raised as the workspace service's `GekoError`s."""

    async def create_workspace(self, name: str, access_token: str) -> str:
        """A workspace owned by the token's user; its id."""
        ...

    async def resolve_invitation(self, token: str) -> InvitationTarget:
        """The pending invitation of `token`; expired, revoked and used ones are refused."""
        ...

    async def accept_invitation(self, token: str, access_token: str) -> str:
        """Joins the token's user to the invitation's workspace; the workspace id."""
        ...


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
    """A new account, signed in, and the workspace it starts in (Register's own or the invitation's)."""

    session: SignedIn
    workspace_id: str


async def create_account(
    db: Database,
    *,
    email: str,
    password: str,
    name: str,
    role: str,
    tenant_name: str | None = None,
    tenant_id: str | None = None,
    record_registration_as: str | None = None,
) -> tuple[User, Tenant]:
    """A user in a new tenant (`tenant_name`) or an existing one (`tenant_id`), by the same rules for
    self-registration, invitations and operators.

    An account that is complete once created (an operator's) passes `record_registration_as` (details.via of
    USER_REGISTERED, recorded in this transaction); Register and AcceptInvitation record it once their
    workspace step has succeeded, so an account that was undone never appears in the audit log."""
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
            if record_registration_as is not None:
                await record_registration(session, user, via=record_registration_as)
    except IntegrityError:  # a concurrent registration of the same email won the race
        raise Conflict("an account with this email already exists", field="email") from None
    return user, tenant


async def record_registration(
    session: AsyncSession, user: User, *, via: str, workspace_id: str | None = None
) -> None:
    """USER_REGISTERED, acted by `user` themself: nobody else is signed in (public RPCs, operator CLI)."""
    await record_audit(
        session,
        service=AUDIT_SERVICE,
        action=AuditAction.USER_REGISTERED,
        tenant_id=user.tenant_id,
        workspace_id=workspace_id,
        resource_type="user",
        resource_id=user.id,
        actor_user_id=user.id,
        details={"via": via, "email": user.email, "role": user.role},
    )


@contextmanager
def _workspace_failures(event: str) -> Iterator[None]:
    """The workspace service's own refusals pass through; anything else is UPSTREAM_UNAVAILABLE."""
    try:
        yield
    except GekoError:
        raise
    except Exception as error:
        log.warning(event, error=repr(error))
        raise UpstreamUnavailable("workspaces are unavailable; nothing was saved, try again") from None


class AuthService:
    """Accounts and sessions. One instance per process; every method runs its own transaction."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        keys: SigningKeyRing,
        rate_limiter: RateLimiter,
        workspaces: Workspaces,
    ) -> None:
        self._db = db
        self._settings = settings
        self._keys = keys
        self._rate_limiter = rate_limiter
        self._workspaces = workspaces

    # ---- accounts ----

    async def register(self, *, email: str, password: str, name: str, tenant_name: str) -> Registered:
        """A new tenant on the free plan, its owner, and a default workspace; all of it or none of it."""
        await self._limit("register", "ip", current_peer_ip.get(), self._settings.login_rate_per_ip)
        email = normalize_email(email)
        await self._limit("register", "email", email, self._settings.login_rate_per_email)
        user, tenant = await create_account(
            self._db, email=email, password=password, name=name, tenant_name=tenant_name, role="owner"
        )
        workspace_name = tenant.name or DEFAULT_WORKSPACE_NAME
        try:
            return await self._complete_account(
                user,
                tenant,
                lambda access_token: self._workspaces.create_workspace(workspace_name, access_token),
                via="register",
                undo=lambda: self._delete_tenant(tenant.id),
            )
        except Exception as error:
            log.warning("register_workspace_failed", tenant_id=tenant.id, error=repr(error))
            raise UpstreamUnavailable(
                "could not create your workspace; nothing was saved, try again"
            ) from None

    async def accept_invitation(self, *, token: str, name: str, password: str) -> Registered:
        """An account for an invitee who has none, inside the inviting tenant, joined to the invitation's
        workspace and signed in; all of it or none of it. The token is the capability (no caller)."""
        await self._limit("accept_invitation", "ip", current_peer_ip.get(), self._settings.login_rate_per_ip)
        token = token.strip()
        if not token:
            raise BadInput("token is required", field="token")
        name = required_name(name, field="name")
        with _workspace_failures("accept_invitation_resolve_failed"):
            invitation = await self._workspaces.resolve_invitation(token)
        try:
            user, tenant = await create_account(
                self._db,
                email=invitation.email,
                password=password,
                name=name,
                role=INVITEE_ROLE,
                tenant_id=invitation.tenant_id,
            )
        except Conflict:  # one person, one tenant: an existing account joins by signing in instead
            raise Conflict(ACCOUNT_EXISTS_SIGN_IN) from None
        with _workspace_failures("accept_invitation_join_failed"):
            return await self._complete_account(
                user,
                tenant,
                lambda access_token: self._workspaces.accept_invitation(token, access_token),
                via="invitation",
                undo=lambda: self._delete_user(user.id),
            )

    async def login(self, *, email: str, password: str) -> SignedIn:
        """A session for the right password. Unknown email and wrong password answer alike, after a password
        hash either way; a failure on a known account is audited (the email's tenant wants to know)."""
        await self._limit("login", "ip", current_peer_ip.get(), self._settings.login_rate_per_ip)
        email = normalize_email(email)
        await self._limit("login", "email", email, self._settings.login_rate_per_email)
        if len(password) > MAX_PASSWORD_LENGTH:  # no account has one; refused before any hashing work
            raise Unauthenticated(INVALID_LOGIN)
        async with self._db.session() as session:
            user = await AuthRepository(session).user_by_email(email)
        verification = await verify_password_async(user.password_hash if user else None, password)
        if user is None:
            raise Unauthenticated(INVALID_LOGIN)
        if not verification.ok:
            await self._record_login_failed(user, reason="wrong_password")
            raise Unauthenticated(INVALID_LOGIN)
        if not user.is_active:
            await self._record_login_failed(user, reason="disabled")
            raise Unauthenticated("this account is disabled")
        key = await self._keys.active_key()
        family_id = new_id()
        async with self._db.transaction() as session:
            repository = AuthRepository(session)
            tenant = await repository.tenant(user.tenant_id)
            if tenant is None:
                raise Unauthenticated(INVALID_LOGIN)
            await repository.record_login(user.id, at=utcnow(), new_password_hash=verification.new_hash)
            signed_in = await self._start_session(repository, key, user, tenant, family_id=family_id)
            await record_audit(
                session,
                service=AUDIT_SERVICE,
                action=AuditAction.USER_LOGIN,
                tenant_id=tenant.id,
                resource_type="session",
                resource_id=family_id,
                actor_user_id=user.id,
            )
            return signed_in

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

    async def users_by_email(self, emails: Sequence[str]) -> tuple[Sequence[User], Tenant | None]:
        """Users of the caller's tenant with these emails (normalised; an invalid address matches nobody)."""
        principal = require_principal()
        if len(emails) > MAX_BATCH_USERS:
            raise BadInput(f"at most {MAX_BATCH_USERS} emails per call", field="emails")
        wanted = list(dict.fromkeys(known for value in emails if (known := _normalized_or_none(value))))
        async with self._db.session() as session:
            repository = AuthRepository(session)
            users = await repository.users_by_email(wanted, tenant_id=principal.tenant_id) if wanted else []
            tenant = await repository.tenant(principal.tenant_id)
        order = {email: index for index, email in enumerate(wanted)}
        return sorted(users, key=lambda user: order[user.email]), tenant

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
            revoked = await repository.revoke_family(token.family_id, at=now, reason=reason)
            if reason == "reuse" and revoked:  # recorded once, when the reuse ends a live session
                await record_audit(
                    session,
                    service=AUDIT_SERVICE,
                    action=AuditAction.TOKEN_REUSE_DETECTED,
                    tenant_id=token.tenant_id,
                    resource_type="session",
                    resource_id=token.family_id,
                    actor_user_id=token.user_id,
                    details={"family_id": token.family_id},
                )
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

    async def _complete_account(
        self,
        user: User,
        tenant: Tenant,
        join: Callable[[str], Awaitable[str]],
        *,
        via: str,
        undo: Callable[[], Awaitable[None]],
    ) -> Registered:
        """The last steps of a new account: `join` (its workspace step, given the user's access token), then
        one transaction that signs the user in and records USER_REGISTERED. If any step fails, `undo` removes
        the account again and the failure is raised: nothing half-made, no audit entry for it."""
        key = await self._keys.active_key()
        access = self._access_token(key, user, tenant)
        try:
            workspace_id = await join(access.token)
            async with self._db.transaction() as session:
                repository = AuthRepository(session)
                signed_in = await self._start_session(repository, key, user, tenant, access=access)
                await record_registration(session, user, via=via, workspace_id=workspace_id)
        except asyncio.CancelledError:
            await asyncio.shield(undo())
            raise
        except Exception:
            await undo()
            raise
        return Registered(session=signed_in, workspace_id=workspace_id)

    def _access_token(self, key: OKPKey, user: User, tenant: Tenant) -> IssuedAccessToken:
        return issue_access_token(
            key, settings=self._settings, user_id=user.id, tenant_id=tenant.id, role=user.role, now=utcnow()
        )

    async def _start_session(
        self,
        repository: AuthRepository,
        key: OKPKey,
        user: User,
        tenant: Tenant,
        *,
        family_id: str | None = None,
        parent_id: str | None = None,
        access: IssuedAccessToken | None = None,
    ) -> SignedIn:
        """Stores a new refresh token in the caller's transaction, with an access token (signed now unless
        given).

        The signing key is fetched by the caller before its transaction opens: creating the first key
        writes in a transaction of its own, which SQLite would block behind the caller's write lock."""
        now = utcnow()
        access = access or self._access_token(key, user, tenant)
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

    async def _delete_user(self, user_id: str) -> None:
        async with self._db.transaction() as session:
            await AuthRepository(session).delete_user(user_id)

    async def _record_login_failed(self, user: User, *, reason: str) -> None:
        """LOGIN_FAILED for a known account, in a transaction of its own (the login itself writes nothing)."""
        async with self._db.transaction() as session:
            await record_audit(
                session,
                service=AUDIT_SERVICE,
                action=AuditAction.LOGIN_FAILED,
                tenant_id=user.tenant_id,
                resource_type="user",
                resource_id=user.id,
                actor_user_id=user.id,
                details={"reason": reason},
            )

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


def _normalized_or_none(email: str) -> str | None:
    try:
        return normalize_email(email)
    except BadInput:
        return None
