"""Invitations: invite an email with a role, resolve and accept a token, revoke, resend, list.

The token is 256 random bits shown once, in the link; only its SHA-256 is stored (nothing to guess, and the
digest can be looked up by index). It expires after INVITATION_TTL. A new invitation for an email that
already has a pending one in the workspace replaces it: the old token is revoked, so only the newest link
works. The email is sent after the transaction commits; a failed send is logged and leaves the invitation in
place (ResendInvitation exists for that).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.models.workspace import Invitation, Workspace
from services.events.audit import AuditAction, record_audit
from services.runtime.clock import utcnow
from services.runtime.context import Principal, require_principal
from services.runtime.database import Database
from services.runtime.emails import normalize_email
from services.runtime.errors import BadInput, Conflict, Forbidden, GekoError, NotFound
from services.runtime.ids import parse_id
from services.runtime.logging import get_logger
from services.runtime.mailer import Mailer
from services.runtime.paging import Page, decode_page_token, encode_page_token, page_size
from services.runtime.permission_cache import Access
from services.runtime.settings import Settings
from services.workspace.accounts import Accounts
from services.workspace.permissions import NOT_FOUND_MESSAGE, Permissions
from services.workspace.repository import (
    ACTIVE,
    InvitationRepository,
    InvitationRow,
    InvitationState,
    MemberRepository,
    MemberRow,
    RoleRepository,
    RoleRow,
    WorkspaceRepository,
    invitation_state,
)
from services.workspace.roles import ensure_assignable

INVITATION_TTL = timedelta(days=7)
INVITATION_NOT_FOUND = "invitation not found"
SERVICE = "workspace"
# ErrorDetail.reason of a token that can no longer be used.
REFUSAL_REASONS = {
    InvitationState.EXPIRED: "INVITATION_EXPIRED",
    InvitationState.REVOKED: "INVITATION_REVOKED",
    InvitationState.ACCEPTED: "INVITATION_USED",
}

log = get_logger(__name__)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Issued:
    """An invitation with a fresh token: the link (shown once) and whether the email went out."""

    row: InvitationRow
    link: str
    email_sent: bool


@dataclass(frozen=True, slots=True)
class Resolved:
    row: InvitationRow
    workspace: Workspace


@dataclass(frozen=True, slots=True)
class Accepted:
    workspace: Workspace
    member: MemberRow


class InvitationService:
    def __init__(
        self,
        database: Database,
        permissions: Permissions,
        accounts: Accounts,
        mailer: Mailer,
        settings: Settings,
    ) -> None:
        self._db = database
        self._permissions = permissions
        self._accounts = accounts
        self._mailer = mailer
        self._settings = settings

    async def invite(self, workspace_id: str, *, email: str, role_name: str) -> Issued:
        principal = require_principal()
        access = await self._permissions.require(principal, workspace_id, "member:invite")
        workspace_id = access.workspace_id
        email = normalize_email(email)
        role_name = role_name.strip()
        if not role_name:
            raise BadInput("role is required", field="role")
        existing_users = await self._accounts.user_ids_with_email(email)
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._db.transaction() as session:
            workspace = await self._live_workspace(session, principal.tenant_id, workspace_id)
            role = await RoleRepository(session).role_named(workspace_id=workspace_id, name=role_name)
            if role is None:
                raise BadInput(f"the workspace has no role named {role_name!r}", field="role")
            ensure_assignable(access, role)
            if existing_users and await MemberRepository(session).active_user_ids(
                workspace_id=workspace_id, user_ids=existing_users
            ):
                raise Conflict(f"{email} is already a member of this workspace", field="email")
            invitations = InvitationRepository(session)
            for replaced in await invitations.pending_for_email(
                workspace_id=workspace_id, email=email, now=now
            ):
                replaced.revoked_at = now
                await _record(session, AuditAction.INVITATION_REVOKED, replaced, {"reason": "replaced"})
            invitation = await invitations.add_invitation(
                tenant_id=principal.tenant_id,
                workspace_id=workspace_id,
                email=email,
                role_id=role.role.id,
                token_hash=hash_token(token),
                invited_by=principal.user_id,
                expires_at=now + INVITATION_TTL,
                now=now,
            )
            await _record(
                session, AuditAction.MEMBER_INVITED, invitation, {"email": email, "role": role.role.name}
            )
        return await self._deliver(InvitationRow(invitation=invitation, role=role.role), workspace, token)

    async def resolve(self, token: str) -> Resolved:
        """Public: the invitation a token stands for, while it can still be accepted."""
        async with self._db.session() as session:
            return await self._usable(session, token)

    async def accept(self, token: str) -> Accepted:
        """The signed-in caller joins with the invited role (or re-joins, if a membership row was left)."""
        principal = require_principal()
        if not principal.user_id:
            raise Forbidden("only a user can accept an invitation")
        caller_email = await self._accounts.caller_email()
        now = utcnow()
        async with self._db.transaction() as session:
            resolved = await self._usable(session, token, lock=True)
            invitation = resolved.row.invitation
            if invitation.tenant_id != principal.tenant_id:
                raise NotFound(INVITATION_NOT_FOUND)
            if normalize_email(caller_email) != invitation.email:
                raise Forbidden("this invitation was sent to another email address")
            members = MemberRepository(session)
            row = await members.member(workspace_id=invitation.workspace_id, user_id=principal.user_id)
            if row is not None and row.member.status == ACTIVE:
                raise Conflict("you are already a member of this workspace")
            if row is None:
                member = await members.add_member(
                    workspace_id=invitation.workspace_id,
                    user_id=principal.user_id,
                    role_id=invitation.role_id,
                )
            else:
                member = row.member
                member.role_id, member.status = invitation.role_id, ACTIVE
            member.invited_at, member.accepted_at = invitation.created_at, now
            invitation.accepted_at = now
            await _record(
                session,
                AuditAction.INVITATION_ACCEPTED,
                invitation,
                {"user_id": principal.user_id, "role": resolved.row.role.name},
            )
        await self._permissions.invalidate(invitation.workspace_id)
        return Accepted(workspace=resolved.workspace, member=MemberRow(member=member, role=resolved.row.role))

    async def revoke(self, invitation_id: str) -> InvitationRow:
        principal = require_principal()
        now = utcnow()
        async with self._db.transaction() as session:
            row, _ = await self._invitation(session, principal, invitation_id, "invitation:revoke")
            if (state := invitation_state(row.invitation, now)) is not InvitationState.PENDING:
                raise Conflict(f"the invitation is {state.value}, not pending")
            row.invitation.revoked_at = now
            await _record(session, AuditAction.INVITATION_REVOKED, row.invitation, {})
        return row

    async def resend(self, invitation_id: str) -> Issued:
        """A fresh token and expiry (the old link stops working), emailed again; for pending or expired
        invitations. The resender becomes the inviter, so they must be able to give its role."""
        principal = require_principal()
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._db.transaction() as session:
            row, access = await self._invitation(session, principal, invitation_id, "member:invite")
            state = invitation_state(row.invitation, now)
            if state in (InvitationState.ACCEPTED, InvitationState.REVOKED):
                raise Conflict(f"the invitation is {state.value}: invite again instead")
            permissions = await RoleRepository(session).permissions_of(row.role.id)
            ensure_assignable(access, RoleRow(role=row.role, permissions=permissions))
            workspace = await self._live_workspace(session, principal.tenant_id, row.invitation.workspace_id)
            invitation = row.invitation
            invitation.token_hash = hash_token(token)
            invitation.expires_at = now + INVITATION_TTL
            invitation.last_sent_at = now
            invitation.invited_by = principal.user_id
            await _record(session, AuditAction.INVITATION_RESENT, invitation, {"email": invitation.email})
        return await self._deliver(row, workspace, token)

    async def list(
        self, workspace_id: str, *, states: Collection[InvitationState], size: int, token: str
    ) -> Page[InvitationRow]:
        """Newest first; pending ones when `states` is empty."""
        principal = require_principal()
        workspace_id = (
            await self._permissions.require(principal, workspace_id, "member:invite")
        ).workspace_id
        states = states or (InvitationState.PENDING,)
        limit = page_size(size)
        now = utcnow()
        async with self._db.session() as session:
            repository = InvitationRepository(session)
            rows = await repository.invitations(
                workspace_id=workspace_id,
                states=states,
                now=now,
                before_id=decode_page_token(token),
                limit=limit + 1,
            )
            total = await repository.count_invitations(workspace_id=workspace_id, states=states, now=now)
        items = rows[:limit]
        next_token = encode_page_token(items[-1].invitation.id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    # ---- helpers ----

    async def _usable(self, session: AsyncSession, token: str, *, lock: bool = False) -> Resolved:
        """NOT_FOUND for an unknown token (or a deleted workspace); BAD_USER_INPUT with a reason for an
        expired, revoked or used one."""
        token = token.strip()
        if not token:
            raise BadInput("token is required", field="token")
        row = await InvitationRepository(session).by_token_hash(hash_token(token), lock=lock)
        if row is None:
            raise NotFound(INVITATION_NOT_FOUND)
        workspace = await WorkspaceRepository(session).live_workspace(
            tenant_id=row.invitation.tenant_id, workspace_id=row.invitation.workspace_id, lock=lock
        )
        if workspace is None:
            raise NotFound(INVITATION_NOT_FOUND)
        state = invitation_state(row.invitation, utcnow())
        if state is not InvitationState.PENDING:
            raise BadInput(f"this invitation is {state.value}", field="token", reason=REFUSAL_REASONS[state])
        return Resolved(row=row, workspace=workspace)

    async def _invitation(
        self, session: AsyncSession, principal: Principal, invitation_id: str, permission: str
    ) -> tuple[InvitationRow, Access]:
        """The invitation, locked, and the caller's access, once the caller holds `permission` in its
        workspace; NOT_FOUND for another tenant's, a missing one, or one the caller cannot see."""
        parsed = parse_id(invitation_id)
        row = (
            None
            if parsed is None
            else await InvitationRepository(session).invitation(
                tenant_id=principal.tenant_id, invitation_id=parsed
            )
        )
        if row is None:
            raise NotFound(INVITATION_NOT_FOUND)
        return row, await self._permissions.require(principal, row.invitation.workspace_id, permission)

    @staticmethod
    async def _live_workspace(session: AsyncSession, tenant_id: str, workspace_id: str) -> Workspace:
        workspace = await WorkspaceRepository(session).live_workspace(
            tenant_id=tenant_id, workspace_id=workspace_id
        )
        if workspace is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        return workspace

    async def _deliver(self, row: InvitationRow, workspace: Workspace, token: str) -> Issued:
        """The link, and the email when SMTP is configured (after the commit: a failure keeps the invite)."""
        link = f"{self._settings.effective_public_url}/invite/{token}"
        if not self._settings.smtp_host:
            return Issued(row=row, link=link, email_sent=False)
        try:
            await self._mailer.send(
                to=row.invitation.email,
                subject=f"You are invited to {workspace.name} on GEKO",
                text=_email_text(workspace.name, row.role.name, link, row.invitation.expires_at),
            )
        except GekoError as error:
            log.warning("invitation_email_failed", invitation_id=row.invitation.id, error=error.message)
            return Issued(row=row, link=link, email_sent=False)
        return Issued(row=row, link=link, email_sent=True)


def _email_text(workspace_name: str, role: str, link: str, expires_at: datetime) -> str:
    return (
        f"You have been invited to join the workspace “{workspace_name}” on GEKO as {role}.\n\n"
        f"Accept the invitation: {link}\n\n"
        f"The link works once and expires on {expires_at:%Y-%m-%d %H:%M} UTC. "
        "If you did not expect this email, you can ignore it.\n"
    )


async def _record(
    session: AsyncSession,
    action: AuditAction,
    invitation: Invitation,
    details: dict[str, str],
) -> None:
    """Never the token: it is a credential."""
    await record_audit(
        session,
        service=SERVICE,
        action=action,
        tenant_id=invitation.tenant_id,
        workspace_id=invitation.workspace_id,
        resource_type="invitation",
        resource_id=invitation.id,
        details=details,
    )
