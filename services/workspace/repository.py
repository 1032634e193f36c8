"""All SQL of the workspace service. Every query is scoped by the tenant the service read from the caller."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.workspace import Workspace, WorkspaceMember, WorkspaceRole


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

    async def system_role(self, name: str) -> WorkspaceRole | None:
        """One of the seeded roles (owner, admin, editor, viewer) that serve every workspace."""
        query = select(WorkspaceRole).where(
            WorkspaceRole.workspace_id.is_(None),
            WorkspaceRole.is_system.is_(True),
            WorkspaceRole.name == name,
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add_member(self, *, workspace_id: str, user_id: str, role_id: str) -> WorkspaceMember:
        member = WorkspaceMember(workspace_id=workspace_id, user_id=user_id, role_id=role_id, status="active")
        self.session.add(member)
        await self.session.flush()
        return member

    async def member_workspaces(
        self, *, tenant_id: str, user_id: str, after_id: str | None, limit: int
    ) -> Sequence[Workspace]:
        """Live workspaces of the tenant where the user is an active member, oldest first."""
        query = self._member_workspaces(tenant_id, user_id).order_by(Workspace.id).limit(limit)
        if after_id is not None:
            query = query.where(Workspace.id > after_id)
        return (await self.session.execute(query)).scalars().all()

    async def count_member_workspaces(self, *, tenant_id: str, user_id: str) -> int:
        query = select(func.count()).select_from(self._member_workspaces(tenant_id, user_id).subquery())
        return int((await self.session.execute(query)).scalar_one())

    @staticmethod
    def _member_workspaces(tenant_id: str, user_id: str) -> Select[Workspace]:
        return (
            select(Workspace)
            .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
            .where(
                Workspace.tenant_id == tenant_id,
                Workspace.deleted_at.is_(None),
                WorkspaceMember.user_id == user_id,
                WorkspaceMember.status == "active",
            )
        )
