"""Members: list, change a member's role, remove a member, leave. A workspace always keeps an owner.

Every change locks the workspace row first, so two changes to one workspace's members run one at a time and
the last-owner count cannot race (two owners demoting each other at once). The permission cache is
invalidated right after each commit.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.events.audit import AuditAction, record_audit
from services.runtime.context import Principal, require_principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, Conflict, Forbidden, NotFound
from services.runtime.ids import parse_id
from services.runtime.paging import Page, decode_page_token, encode_page_token, page_size
from services.runtime.permission_cache import Access
from services.workspace.permissions import NOT_FOUND_MESSAGE, Permissions
from services.workspace.repository import (
    ACTIVE,
    OWNER_ROLE,
    MemberRepository,
    MemberRow,
    RoleRepository,
    WorkspaceRepository,
)
from services.workspace.roles import ensure_assignable, is_owner_role

MEMBER_NOT_FOUND = "member not found"
LAST_OWNER = "LAST_OWNER"
SERVICE = "workspace"


class MemberService:
    def __init__(self, database: Database, permissions: Permissions) -> None:
        self._db = database
        self._permissions = permissions

    async def list(self, workspace_id: str, *, size: int, token: str) -> Page[MemberRow]:
        """Members in the order they joined."""
        principal = require_principal()
        workspace_id = (await self._permissions.require(principal, workspace_id, "member:view")).workspace_id
        limit = page_size(size)
        async with self._db.session() as session:
            repository = MemberRepository(session)
            rows = await repository.members(
                workspace_id=workspace_id, after_id=decode_page_token(token), limit=limit + 1
            )
            total = await repository.count_members(workspace_id=workspace_id)
        items = rows[:limit]
        next_token = encode_page_token(items[-1].member.id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    async def update_role(self, workspace_id: str, user_id: str, role_name: str) -> MemberRow:
        principal = require_principal()
        access = await self._permissions.require(principal, workspace_id, "member:role:update")
        workspace_id = access.workspace_id
        role_name = role_name.strip()
        if not role_name:
            raise BadInput("role is required", field="role")
        async with self._db.transaction() as session:
            target = await self._locked_member(session, principal, workspace_id, user_id)
            role = await RoleRepository(session).role_named(workspace_id=workspace_id, name=role_name)
            if role is None:
                raise BadInput(f"the workspace has no role named {role_name!r}", field="role")
            ensure_assignable(access, role)
            _ensure_may_unseat(access, target)
            if role.role.id == target.role.id:
                return target
            if not is_owner_role(role.role):
                await _ensure_not_last_owner(session, target, "demote")
            target.member.role_id = role.role.id
            await _record(
                session,
                principal,
                AuditAction.MEMBER_ROLE_CHANGED,
                target,
                {"from": target.role.name, "to": role.role.name},
            )
        await self._permissions.invalidate(workspace_id)
        return MemberRow(member=target.member, role=role.role)

    async def remove(self, workspace_id: str, user_id: str) -> None:
        principal = require_principal()
        access = await self._permissions.require(principal, workspace_id, "member:remove")
        workspace_id = access.workspace_id
        async with self._db.transaction() as session:
            target = await self._locked_member(session, principal, workspace_id, user_id)
            _ensure_may_unseat(access, target)
            await _ensure_not_last_owner(session, target, "remove")
            await _record(session, principal, AuditAction.MEMBER_REMOVED, target, {"role": target.role.name})
            await MemberRepository(session).delete_member(target.member)
        await self._permissions.invalidate(workspace_id)

    async def leave(self, workspace_id: str) -> None:
        """The caller leaves; membership is all it needs."""
        principal = require_principal()
        workspace_id = (await self._permissions.require_member(principal, workspace_id)).workspace_id
        async with self._db.transaction() as session:
            own = await self._locked_member(session, principal, workspace_id, principal.user_id)
            await _ensure_not_last_owner(session, own, "leave")
            await _record(session, principal, AuditAction.MEMBER_LEFT, own, {"role": own.role.name})
            await MemberRepository(session).delete_member(own.member)
        await self._permissions.invalidate(workspace_id)

    @staticmethod
    async def _locked_member(
        session: AsyncSession, principal: Principal, workspace_id: str, user_id: str
    ) -> MemberRow:
        """Locks the live workspace, then reads the user's membership; NOT_FOUND when either is missing."""
        workspace = await WorkspaceRepository(session).live_workspace(
            tenant_id=principal.tenant_id, workspace_id=workspace_id, lock=True
        )
        if workspace is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        parsed = parse_id(user_id)
        row = (
            None
            if parsed is None
            else await MemberRepository(session).member(workspace_id=workspace_id, user_id=parsed)
        )
        if row is None:
            raise NotFound(MEMBER_NOT_FOUND)
        return row


def _ensure_may_unseat(access: Access, target: MemberRow) -> None:
    """Only an owner changes or removes an owner."""
    if is_owner_role(target.role) and access.role != OWNER_ROLE:
        raise Forbidden("only an owner can change or remove an owner")


async def _ensure_not_last_owner(session: AsyncSession, target: MemberRow, verb: str) -> None:
    """CONFLICT with reason LAST_OWNER when `target` is the workspace's only active owner."""
    if not is_owner_role(target.role) or target.member.status != ACTIVE:
        return
    if await MemberRepository(session).count_owners(workspace_id=target.member.workspace_id) <= 1:
        raise Conflict(f"cannot {verb} the last owner: make another member owner first", reason=LAST_OWNER)


async def _record(
    session: AsyncSession,
    principal: Principal,
    action: AuditAction,
    target: MemberRow,
    details: dict[str, str],
) -> None:
    await record_audit(
        session,
        service=SERVICE,
        action=action,
        tenant_id=principal.tenant_id,
        workspace_id=target.member.workspace_id,
        resource_type="member",
        resource_id=target.member.user_id,
        details={"user_id": target.member.user_id, **details},
    )
