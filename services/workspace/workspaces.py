"""Workspaces: create (the creator becomes owner), list, get, rename, soft delete and restore."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models.workspace import Workspace
from services.events.audit import AuditAction, record_audit
from services.runtime.access import lacks_permission
from services.runtime.clock import utcnow
from services.runtime.context import require_principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, Conflict, Forbidden, InternalError, NotFound
from services.runtime.ids import parse_id
from services.runtime.paging import Page, decode_page_token, encode_page_token, page_size
from services.workspace.permissions import NOT_FOUND_MESSAGE, Permissions
from services.workspace.repository import (
    ACTIVE,
    OWNER_ROLE,
    MemberRepository,
    RoleRepository,
    WorkspaceRepository,
)

MAX_NAME_LENGTH = 100
MAX_ICON_LENGTH = 64
# How long a soft-deleted workspace stays restorable before it is purged.
RESTORE_WINDOW = timedelta(days=30)
MAX_BATCH_IDS = 200
SERVICE = "workspace"


def valid_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise BadInput("name is required", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise BadInput(f"name must be at most {MAX_NAME_LENGTH} characters", field="name")
    return name


def valid_icon(raw: str) -> str | None:
    """The icon, or None for none (an empty string clears it)."""
    icon = raw.strip()
    if len(icon) > MAX_ICON_LENGTH:
        raise BadInput(f"icon must be at most {MAX_ICON_LENGTH} characters", field="icon")
    return icon or None


def purge_time(workspace: Workspace) -> datetime | None:
    """When a soft-deleted workspace stops being restorable."""
    return None if workspace.deleted_at is None else workspace.deleted_at + RESTORE_WINDOW


class WorkspaceService:
    def __init__(self, database: Database, permissions: Permissions) -> None:
        self._db = database
        self._permissions = permissions

    async def create(self, *, name: str, icon: str) -> Workspace:
        """A workspace in the caller's tenant, with the caller as its active owner, in one transaction."""
        principal = require_principal()
        if not principal.user_id:
            raise Forbidden("only a user can own a workspace")
        name, icon_or_none = valid_name(name), valid_icon(icon)
        async with self._db.transaction() as session:
            owner = await RoleRepository(session).system_role(OWNER_ROLE)
            if owner is None:
                raise InternalError("the default roles are missing: run `geko migrate` (it seeds them)")
            workspace = await WorkspaceRepository(session).add_workspace(
                tenant_id=principal.tenant_id, name=name, icon=icon_or_none, created_by=principal.user_id
            )
            await MemberRepository(session).add_member(
                workspace_id=workspace.id, user_id=principal.user_id, role_id=owner.id
            )
            await _record(session, AuditAction.WORKSPACE_CREATED, workspace, {"name": name})
        return workspace

    async def list_mine(self, *, size: int, token: str, show_deleted: bool) -> Page[Workspace]:
        """The caller's live workspaces, oldest first; with `show_deleted`, only the soft-deleted ones the
        caller may still restore."""
        principal = require_principal()
        limit = page_size(size)
        after_id = decode_page_token(token)
        async with self._db.session() as session:
            repository = WorkspaceRepository(session)
            if show_deleted:
                since = utcnow() - RESTORE_WINDOW
                rows = await repository.restorable_workspaces(
                    tenant_id=principal.tenant_id,
                    user_id=principal.user_id,
                    since=since,
                    after_id=after_id,
                    limit=limit + 1,
                )
                total = await repository.count_restorable_workspaces(
                    tenant_id=principal.tenant_id, user_id=principal.user_id, since=since
                )
            else:
                rows = await repository.member_workspaces(
                    tenant_id=principal.tenant_id,
                    user_id=principal.user_id,
                    after_id=after_id,
                    limit=limit + 1,
                )
                total = await repository.count_member_workspaces(
                    tenant_id=principal.tenant_id, user_id=principal.user_id
                )
        items = list(rows[:limit])
        next_token = encode_page_token(items[-1].id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    async def get(self, workspace_id: str) -> Workspace:
        principal = require_principal()
        workspace_id = (await self._permissions.require(principal, workspace_id, "member:view")).workspace_id
        async with self._db.session() as session:
            workspace = await WorkspaceRepository(session).live_workspace(
                tenant_id=principal.tenant_id, workspace_id=workspace_id
            )
        if workspace is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        return workspace

    async def batch_get(self, ids: Sequence[str]) -> Sequence[Workspace]:
        """The live workspaces among `ids` that the caller is a member of; other ids are left out."""
        principal = require_principal()
        if len(ids) > MAX_BATCH_IDS:
            raise BadInput(f"at most {MAX_BATCH_IDS} ids per call", field="ids")
        wanted = {parsed for parsed in map(parse_id, ids) if parsed is not None}
        if not wanted:
            return []
        async with self._db.session() as session:
            return await WorkspaceRepository(session).workspaces_by_ids(
                tenant_id=principal.tenant_id, user_id=principal.user_id, ids=wanted
            )

    async def update(self, workspace_id: str, *, name: str | None, icon: str | None) -> Workspace:
        """Changes the fields that are given (not None)."""
        principal = require_principal()
        workspace_id = (
            await self._permissions.require(principal, workspace_id, "workspace:config")
        ).workspace_id
        changes: dict[str, str | None] = {}
        if name is not None:
            changes["name"] = valid_name(name)
        if icon is not None:
            changes["icon"] = valid_icon(icon)
        async with self._db.transaction() as session:
            workspace = await WorkspaceRepository(session).live_workspace(
                tenant_id=principal.tenant_id, workspace_id=workspace_id, lock=True
            )
            if workspace is None:
                raise NotFound(NOT_FOUND_MESSAGE)
            changed = {key: value for key, value in changes.items() if getattr(workspace, key) != value}
            if changed:
                for key, value in changed.items():
                    setattr(workspace, key, value)
                await _record(session, AuditAction.WORKSPACE_UPDATED, workspace, changed)
            return workspace

    async def delete(self, workspace_id: str) -> Workspace:
        """Soft delete: from the commit on, the workspace is NOT_FOUND everywhere but RestoreWorkspace."""
        principal = require_principal()
        workspace_id = (
            await self._permissions.require(principal, workspace_id, "workspace:delete")
        ).workspace_id
        async with self._db.transaction() as session:
            workspace = await WorkspaceRepository(session).live_workspace(
                tenant_id=principal.tenant_id, workspace_id=workspace_id, lock=True
            )
            if workspace is None:
                raise NotFound(NOT_FOUND_MESSAGE)
            workspace.deleted_at = utcnow()
            await _record(session, AuditAction.WORKSPACE_DELETED, workspace)
        await self._permissions.invalidate(workspace.id)
        return workspace

    async def restore(self, workspace_id: str) -> Workspace:
        """Undoes a soft delete within RESTORE_WINDOW. Checked against the database, not the cache: the
        cache knows deleted workspaces only as missing."""
        principal = require_principal()
        workspace_id = parse_id(workspace_id) or ""
        if not workspace_id:
            raise NotFound(NOT_FOUND_MESSAGE)
        now = utcnow()
        async with self._db.transaction() as session:
            workspace = await WorkspaceRepository(session).workspace(
                tenant_id=principal.tenant_id, workspace_id=workspace_id
            )
            membership = await MemberRepository(session).member(
                workspace_id=workspace_id, user_id=principal.user_id
            )
            if (
                workspace is None
                or (workspace.deleted_at is not None and workspace.deleted_at < now - RESTORE_WINDOW)
                or membership is None
                or membership.member.status != ACTIVE
            ):
                raise NotFound(NOT_FOUND_MESSAGE)
            if "workspace:delete" not in await RoleRepository(session).permissions_of(membership.role.id):
                raise lacks_permission(membership.role.name, "workspace:delete")
            if workspace.deleted_at is None:
                raise Conflict("the workspace is not deleted")
            workspace.deleted_at = None
            await _record(session, AuditAction.WORKSPACE_RESTORED, workspace)
        await self._permissions.invalidate(workspace.id)
        return workspace


async def _record(
    session: AsyncSession, action: AuditAction, workspace: Workspace, details: dict[str, Any] | None = None
) -> None:
    """A workspace's own audit event, in the transaction of the change it describes."""
    await record_audit(
        session,
        service=SERVICE,
        action=action,
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        resource_type="workspace",
        resource_id=workspace.id,
        details=details,
    )
