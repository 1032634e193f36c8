"""Workspace rules. So far: create a workspace (its creator becomes owner) and list the caller's workspaces;
the rest of the service (members, invitations, roles, permission checks) is issue 3."""

from __future__ import annotations

from dataclasses import dataclass

from db.models.workspace import Workspace
from services.runtime.context import require_principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, InternalError
from services.runtime.paging import decode_page_token, encode_page_token, page_size
from services.workspace.repository import WorkspaceRepository

MAX_NAME_LENGTH = 100
MAX_ICON_LENGTH = 64
OWNER_ROLE = "owner"


@dataclass(frozen=True, slots=True)
class WorkspacePage:
    workspaces: list[Workspace]
    next_page_token: str
    total_size: int


class WorkspaceService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, name: str, icon: str) -> Workspace:
        """A workspace in the caller's tenant, with the caller as its active owner, in one transaction."""
        principal = require_principal()
        name = name.strip()
        if not name:
            raise BadInput("name is required", field="name")
        if len(name) > MAX_NAME_LENGTH:
            raise BadInput(f"name must be at most {MAX_NAME_LENGTH} characters", field="name")
        icon = icon.strip()
        if len(icon) > MAX_ICON_LENGTH:
            raise BadInput(f"icon must be at most {MAX_ICON_LENGTH} characters", field="icon")
        async with self._db.transaction() as session:
            repository = WorkspaceRepository(session)
            owner = await repository.system_role(OWNER_ROLE)
            if owner is None:
                raise InternalError("the default roles are missing: run `geko migrate` (it seeds them)")
            workspace = await repository.add_workspace(
                tenant_id=principal.tenant_id, name=name, icon=icon or None, created_by=principal.user_id
            )
            await repository.add_member(
                workspace_id=workspace.id, user_id=principal.user_id, role_id=owner.id
            )
        return workspace

    async def list_mine(self, *, size: int, token: str) -> WorkspacePage:
        """The caller's live workspaces (active memberships in their tenant), oldest first."""
        principal = require_principal()
        limit = page_size(size)
        async with self._db.session() as session:
            repository = WorkspaceRepository(session)
            rows = await repository.member_workspaces(
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                after_id=decode_page_token(token),
                limit=limit + 1,
            )
            total = await repository.count_member_workspaces(
                tenant_id=principal.tenant_id, user_id=principal.user_id
            )
        items = list(rows[:limit])
        next_token = encode_page_token(items[-1].id) if len(rows) > limit else ""
        return WorkspacePage(workspaces=items, next_page_token=next_token, total_size=total)
