"""All SQL of the workspace service. Queries are scoped by the tenant the service read from the caller (or by
a workspace already checked to be the caller's tenant's); nothing here decides who may do what."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Row, Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.workspace import Invitation, RolePermission, Workspace, WorkspaceMember, WorkspaceRole

ACTIVE = "active"
OWNER_ROLE = "owner"
SYSTEM_ROLE_ORDER = ("owner", "admin", "editor", "viewer")


@dataclass(frozen=True, slots=True)
class FoundAccess:
    tenant_id: str
    role: str
    permissions: list[str]


class AccessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def access(self, *, workspace_id: str, user_id: str) -> FoundAccess | None:
        """The live workspace's tenant plus the user's active role and its permissions, in one query;
        None when there is no live workspace with this id."""
        query = (
            select(Workspace.tenant_id, WorkspaceRole.name, RolePermission.permission)
            .outerjoin(
                WorkspaceMember,
                and_(
                    WorkspaceMember.workspace_id == Workspace.id,
                    WorkspaceMember.user_id == user_id,
                    WorkspaceMember.status == ACTIVE,
                ),
            )
            .outerjoin(WorkspaceRole, WorkspaceRole.id == WorkspaceMember.role_id)
            .outerjoin(RolePermission, RolePermission.role_id == WorkspaceRole.id)
            .where(Workspace.id == workspace_id, Workspace.deleted_at.is_(None))
        )
        rows = (await self.session.execute(query)).all()
        if not rows:
            return None
        return FoundAccess(
            tenant_id=str(rows[0][0]),
            role=rows[0][1] or "",
            permissions=sorted({permission for _, _, permission in rows if permission is not None}),
        )


class WorkspaceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_workspace(
        self, *, tenant_id: str, name: str, icon: str | None, created_by: str
    ) -> Workspace:
        workspace = Workspace(tenant_id=tenant_id, name=name, icon=icon, created_by=created_by)
        self.session.add(workspace)
        await self.session.flush()
        return workspace

    async def live_workspace(
        self, *, tenant_id: str, workspace_id: str, lock: bool = False
    ) -> Workspace | None:
        """The workspace unless soft-deleted; `lock` holds its row (PostgreSQL) so that changes to one
        workspace's members run one at a time (the last-owner rule counts owners and must not race)."""
        query = select(Workspace).where(
            Workspace.id == workspace_id, Workspace.tenant_id == tenant_id, Workspace.deleted_at.is_(None)
        )
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def workspace(self, *, tenant_id: str, workspace_id: str) -> Workspace | None:
        """The workspace whether soft-deleted or not, row locked (for restoring it)."""
        query = (
            select(Workspace)
            .where(Workspace.id == workspace_id, Workspace.tenant_id == tenant_id)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def member_workspaces(
        self, *, tenant_id: str, user_id: str, after_id: str | None, limit: int
    ) -> Sequence[Workspace]:
        """Live workspaces of the tenant where the user is an active member, oldest first."""
        return await self._page(self._member_workspaces(tenant_id, user_id), after_id, limit)

    async def count_member_workspaces(self, *, tenant_id: str, user_id: str) -> int:
        return await self._count(self._member_workspaces(tenant_id, user_id))

    async def restorable_workspaces(
        self, *, tenant_id: str, user_id: str, since: datetime, after_id: str | None, limit: int
    ) -> Sequence[Workspace]:
        """Workspaces soft-deleted at or after `since` whose user's role may delete (so restore) them."""
        return await self._page(self._restorable(tenant_id, user_id, since), after_id, limit)

    async def count_restorable_workspaces(self, *, tenant_id: str, user_id: str, since: datetime) -> int:
        return await self._count(self._restorable(tenant_id, user_id, since))

    async def workspaces_by_ids(
        self, *, tenant_id: str, user_id: str, ids: Collection[str]
    ) -> Sequence[Workspace]:
        query = (
            self._member_workspaces(tenant_id, user_id).where(Workspace.id.in_(ids)).order_by(Workspace.id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def _page(self, query: Select[Workspace], after_id: str | None, limit: int) -> Sequence[Workspace]:
        query = query.order_by(Workspace.id).limit(limit)
        if after_id is not None:
            query = query.where(Workspace.id > after_id)
        return (await self.session.execute(query)).scalars().all()

    async def _count(self, query: Select[Workspace]) -> int:
        return int(
            (await self.session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        )

    @staticmethod
    def _memberships(tenant_id: str, user_id: str) -> Select[Workspace]:
        return (
            select(Workspace)
            .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
            .where(
                Workspace.tenant_id == tenant_id,
                WorkspaceMember.user_id == user_id,
                WorkspaceMember.status == ACTIVE,
            )
        )

    @classmethod
    def _member_workspaces(cls, tenant_id: str, user_id: str) -> Select[Workspace]:
        return cls._memberships(tenant_id, user_id).where(Workspace.deleted_at.is_(None))

    @classmethod
    def _restorable(cls, tenant_id: str, user_id: str, since: datetime) -> Select[Workspace]:
        may_delete = select(RolePermission.role_id).where(RolePermission.permission == "workspace:delete")
        return cls._memberships(tenant_id, user_id).where(
            Workspace.deleted_at.is_not(None),
            Workspace.deleted_at >= since,
            WorkspaceMember.role_id.in_(may_delete),
        )


@dataclass(frozen=True, slots=True)
class MemberRow:
    member: WorkspaceMember
    role: WorkspaceRole


class MemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_member(self, *, workspace_id: str, user_id: str, role_id: str) -> WorkspaceMember:
        member = WorkspaceMember(workspace_id=workspace_id, user_id=user_id, role_id=role_id, status=ACTIVE)
        self.session.add(member)
        await self.session.flush()
        return member

    async def member(self, *, workspace_id: str, user_id: str) -> MemberRow | None:
        """The user's membership of the workspace, whatever its status, with its role."""
        query = self._with_role().where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else MemberRow(member=row[0], role=row[1])

    async def members(self, *, workspace_id: str, after_id: str | None, limit: int) -> list[MemberRow]:
        """Memberships in the order they were made."""
        query = (
            self._with_role()
            .where(WorkspaceMember.workspace_id == workspace_id)
            .order_by(WorkspaceMember.id)
            .limit(limit)
        )
        if after_id is not None:
            query = query.where(WorkspaceMember.id > after_id)
        return [MemberRow(member=m, role=r) for m, r in (await self.session.execute(query)).all()]

    async def count_members(self, *, workspace_id: str) -> int:
        query = select(func.count()).where(WorkspaceMember.workspace_id == workspace_id)
        return int((await self.session.execute(query)).scalar_one())

    async def count_owners(self, *, workspace_id: str) -> int:
        """Active members holding the system owner role."""
        query = (
            select(func.count())
            .select_from(WorkspaceMember)
            .join(WorkspaceRole, WorkspaceRole.id == WorkspaceMember.role_id)
            .where(
                WorkspaceMember.workspace_id == workspace_id,
                WorkspaceMember.status == ACTIVE,
                WorkspaceRole.workspace_id.is_(None),
                WorkspaceRole.name == OWNER_ROLE,
            )
        )
        return int((await self.session.execute(query)).scalar_one())

    async def active_user_ids(self, *, workspace_id: str, user_ids: Iterable[str]) -> set[str]:
        query = select(WorkspaceMember.user_id).where(
            WorkspaceMember.workspace_id == workspace_id,
            WorkspaceMember.status == ACTIVE,
            WorkspaceMember.user_id.in_(list(user_ids)),
        )
        return {str(user_id) for user_id in (await self.session.execute(query)).scalars()}

    async def delete_member(self, member: WorkspaceMember) -> None:
        await self.session.delete(member)
        await self.session.flush()

    @staticmethod
    def _with_role() -> Select[WorkspaceMember, WorkspaceRole]:
        return select(WorkspaceMember, WorkspaceRole).join(
            WorkspaceRole, WorkspaceRole.id == WorkspaceMember.role_id
        )


@dataclass(frozen=True, slots=True)
class RoleRow:
    role: WorkspaceRole
    permissions: frozenset[str]


class RoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def system_role(self, name: str) -> WorkspaceRole | None:
        """One of the seeded roles (owner, admin, editor, viewer) that serve every workspace."""
        query = select(WorkspaceRole).where(WorkspaceRole.workspace_id.is_(None), WorkspaceRole.name == name)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def role_named(self, *, workspace_id: str, name: str) -> RoleRow | None:
        """A system role or one of the workspace's custom roles, by name."""
        query = select(WorkspaceRole).where(
            WorkspaceRole.name == name,
            or_(WorkspaceRole.workspace_id.is_(None), WorkspaceRole.workspace_id == workspace_id),
        )
        role = (await self.session.execute(query)).scalars().first()
        return None if role is None else RoleRow(role=role, permissions=await self.permissions_of(role.id))

    async def role(self, role_id: str, *, lock: bool = False) -> WorkspaceRole | None:
        query = select(WorkspaceRole).where(WorkspaceRole.id == role_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def roles(self, *, workspace_id: str) -> list[RoleRow]:
        """The system roles (owner first) followed by the workspace's custom roles by name."""
        query = select(WorkspaceRole).where(
            or_(WorkspaceRole.workspace_id.is_(None), WorkspaceRole.workspace_id == workspace_id)
        )
        roles = list((await self.session.execute(query)).scalars())
        granted = await self._permissions_by_role([role.id for role in roles])
        roles.sort(key=_role_order)
        return [RoleRow(role=role, permissions=frozenset(granted.get(role.id, ()))) for role in roles]

    async def permissions_of(self, role_id: str) -> frozenset[str]:
        return frozenset((await self._permissions_by_role([role_id])).get(role_id, ()))

    async def add_role(
        self, *, tenant_id: str, workspace_id: str, name: str, description: str, permissions: Iterable[str]
    ) -> WorkspaceRole:
        role = WorkspaceRole(
            tenant_id=tenant_id,
            workspace_id=workspace_id,
            name=name,
            description=description,
            is_system=False,
        )
        self.session.add(role)
        await self.session.flush()
        self.session.add_all(RolePermission(role_id=role.id, permission=p) for p in sorted(set(permissions)))
        await self.session.flush()
        return role

    async def replace_permissions(self, role: WorkspaceRole, permissions: Iterable[str]) -> None:
        await self.session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
        self.session.add_all(RolePermission(role_id=role.id, permission=p) for p in sorted(set(permissions)))
        await self.session.flush()

    async def count_holders(self, role_id: str) -> int:
        query = select(func.count()).where(WorkspaceMember.role_id == role_id)
        return int((await self.session.execute(query)).scalar_one())

    async def delete_role(self, role: WorkspaceRole) -> None:
        await self.session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
        await self.session.delete(role)
        await self.session.flush()

    async def _permissions_by_role(self, role_ids: Collection[str]) -> dict[str, set[str]]:
        query = select(RolePermission.role_id, RolePermission.permission).where(
            RolePermission.role_id.in_(role_ids)
        )
        granted: dict[str, set[str]] = {}
        for role_id, permission in (await self.session.execute(query)).all():
            granted.setdefault(str(role_id), set()).add(permission)
        return granted


def _role_order(role: WorkspaceRole) -> tuple[int, str]:
    if role.workspace_id is None and role.name in SYSTEM_ROLE_ORDER:
        return SYSTEM_ROLE_ORDER.index(role.name), ""
    return len(SYSTEM_ROLE_ORDER), role.name.casefold()


class InvitationState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


def invitation_state(invitation: Invitation, now: datetime) -> InvitationState:
    if invitation.accepted_at is not None:
        return InvitationState.ACCEPTED
    if invitation.revoked_at is not None:
        return InvitationState.REVOKED
    if invitation.expires_at <= now:
        return InvitationState.EXPIRED
    return InvitationState.PENDING


def _state_filter(state: InvitationState, now: datetime) -> ColumnElement[bool]:
    open_ = and_(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    match state:
        case InvitationState.ACCEPTED:
            return Invitation.accepted_at.is_not(None)
        case InvitationState.REVOKED:
            return and_(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_not(None))
        case InvitationState.EXPIRED:
            return and_(open_, Invitation.expires_at <= now)
        case InvitationState.PENDING:
            return and_(open_, Invitation.expires_at > now)


@dataclass(frozen=True, slots=True)
class InvitationRow:
    invitation: Invitation
    role: WorkspaceRole


class InvitationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_invitation(
        self,
        *,
        tenant_id: str,
        workspace_id: str,
        email: str,
        role_id: str,
        token_hash: str,
        invited_by: str,
        expires_at: datetime,
        now: datetime,
    ) -> Invitation:
        invitation = Invitation(
            tenant_id=tenant_id,
            workspace_id=workspace_id,
            email=email,
            role_id=role_id,
            token_hash=token_hash,
            invited_by=invited_by,
            expires_at=expires_at,
            last_sent_at=now,
        )
        self.session.add(invitation)
        await self.session.flush()
        return invitation

    async def by_token_hash(self, token_hash: str, *, lock: bool = False) -> InvitationRow | None:
        """The invitation of a token; `lock` holds its row, so two accepts of one token cannot both pass."""
        query = self._with_role().where(Invitation.token_hash == token_hash)
        if lock:
            query = query.with_for_update(of=Invitation)
        return self._row((await self.session.execute(query)).one_or_none())

    async def invitation(self, *, tenant_id: str, invitation_id: str) -> InvitationRow | None:
        """The invitation, row locked (it is read to be changed)."""
        query = (
            self._with_role()
            .where(Invitation.id == invitation_id, Invitation.tenant_id == tenant_id)
            .with_for_update(of=Invitation)
        )
        return self._row((await self.session.execute(query)).one_or_none())

    async def pending_for_email(
        self, *, workspace_id: str, email: str, now: datetime
    ) -> Sequence[Invitation]:
        query = select(Invitation).where(
            Invitation.workspace_id == workspace_id,
            Invitation.email == email,
            _state_filter(InvitationState.PENDING, now),
        )
        return (await self.session.execute(query)).scalars().all()

    async def invitations(
        self,
        *,
        workspace_id: str,
        states: Collection[InvitationState],
        now: datetime,
        before_id: str | None,
        limit: int,
    ) -> list[InvitationRow]:
        """Newest first."""
        query = (
            self._with_role()
            .where(self._listed(workspace_id, states, now))
            .order_by(Invitation.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(Invitation.id < before_id)
        return [InvitationRow(invitation=i, role=r) for i, r in (await self.session.execute(query)).all()]

    async def count_invitations(
        self, *, workspace_id: str, states: Collection[InvitationState], now: datetime
    ) -> int:
        query = select(func.count()).select_from(Invitation).where(self._listed(workspace_id, states, now))
        return int((await self.session.execute(query)).scalar_one())

    async def count_pending_with_role(self, role_id: str, now: datetime) -> int:
        query = (
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.role_id == role_id, _state_filter(InvitationState.PENDING, now))
        )
        return int((await self.session.execute(query)).scalar_one())

    async def delete_closed_with_role(self, role_id: str) -> None:
        """Every invitation of a role about to go (none pending by then; their story is in the audit log)."""
        await self.session.execute(delete(Invitation).where(Invitation.role_id == role_id))

    @staticmethod
    def _listed(workspace_id: str, states: Collection[InvitationState], now: datetime) -> ColumnElement[bool]:
        return and_(Invitation.workspace_id == workspace_id, or_(*(_state_filter(s, now) for s in states)))

    @staticmethod
    def _with_role() -> Select[Invitation, WorkspaceRole]:
        return select(Invitation, WorkspaceRole).join(WorkspaceRole, WorkspaceRole.id == Invitation.role_id)

    @staticmethod
    def _row(row: Row[Invitation, WorkspaceRole] | None) -> InvitationRow | None:
        return None if row is None else InvitationRow(invitation=row[0], role=row[1])
