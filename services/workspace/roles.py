"""Roles: the four system roles every workspace shares, custom roles per workspace, and the escalation guards
that decide which roles and permissions a member may hand out.

Guards: only an owner gives or takes away the owner role; nobody gives a role, or puts permissions into a
custom role, that they do not hold themselves. So no member can raise anyone, themselves included, above
their own standing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from db.models.workspace import WorkspaceRole
from db.seed import PERMISSIONS
from services.events.audit import AuditAction, record_audit
from services.runtime.clock import utcnow
from services.runtime.context import require_principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, Conflict, Forbidden, NotFound
from services.runtime.ids import parse_id
from services.runtime.permission_cache import Access
from services.workspace.permissions import Permissions
from services.workspace.repository import (
    OWNER_ROLE,
    SYSTEM_ROLE_ORDER,
    InvitationRepository,
    RoleRepository,
    RoleRow,
)

MAX_ROLE_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 500
SERVICE = "workspace"
ROLE_NOT_FOUND = "role not found"


def is_owner_role(role: WorkspaceRole) -> bool:
    return role.workspace_id is None and role.name == OWNER_ROLE


def ensure_assignable(access: Access, role: RoleRow) -> None:
    """FORBIDDEN unless a member with `access` may give `role` to someone."""
    if is_owner_role(role.role) and access.role != OWNER_ROLE:
        raise Forbidden("only an owner can give the owner role")
    if missing := role.permissions - access.permissions:
        lacking = ", ".join(sorted(missing))
        raise Forbidden(
            f"you cannot give the role {role.role.name!r}: it has permissions you lack ({lacking})"
        )


def ensure_grantable(access: Access, permissions: Iterable[str]) -> None:
    """FORBIDDEN unless a member with `access` holds every one of `permissions`."""
    if missing := set(permissions) - access.permissions:
        raise Forbidden(f"you cannot grant permissions you lack: {', '.join(sorted(missing))}")


def valid_role_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise BadInput("name is required", field="name")
    if len(name) > MAX_ROLE_NAME_LENGTH:
        raise BadInput(f"name must be at most {MAX_ROLE_NAME_LENGTH} characters", field="name")
    if name.casefold() in SYSTEM_ROLE_ORDER:
        raise BadInput(f"{name!r} is the name of a system role", field="name")
    return name


def valid_description(raw: str) -> str:
    description = raw.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise BadInput(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters", field="description"
        )
    return description


def valid_permissions(raw: Iterable[str]) -> frozenset[str]:
    permissions = frozenset(p.strip() for p in raw)
    if unknown := sorted(p for p in permissions if p not in PERMISSIONS):
        raise BadInput(f"unknown permissions: {', '.join(unknown)}", field="permissions")
    return permissions


class RoleService:
    def __init__(self, database: Database, permissions: Permissions) -> None:
        self._db = database
        self._permissions = permissions

    async def list(self, workspace_id: str) -> list[RoleRow]:
        """The system roles (owner, admin, editor, viewer) then the workspace's custom roles by name."""
        principal = require_principal()
        workspace_id = (await self._permissions.require(principal, workspace_id, "member:view")).workspace_id
        async with self._db.session() as session:
            return await RoleRepository(session).roles(workspace_id=workspace_id)

    async def create(
        self, workspace_id: str, *, name: str, description: str, permissions: Iterable[str]
    ) -> RoleRow:
        principal = require_principal()
        access = await self._permissions.require(principal, workspace_id, "role:create")
        workspace_id = access.workspace_id
        name, description = valid_role_name(name), valid_description(description)
        granted = valid_permissions(permissions)
        ensure_grantable(access, granted)
        async with self._db.transaction() as session:
            repository = RoleRepository(session)
            await self._ensure_name_free(repository, workspace_id, name)
            role = await repository.add_role(
                tenant_id=principal.tenant_id,
                workspace_id=workspace_id,
                name=name,
                description=description,
                permissions=granted,
            )
            await self._record(
                session, AuditAction.ROLE_CREATED, role, {"name": name, "permissions": sorted(granted)}
            )
        return RoleRow(role=role, permissions=granted)

    async def update(
        self,
        role_id: str,
        *,
        name: str | None,
        description: str | None,
        permissions: Iterable[str] | None,
    ) -> RoleRow:
        """Changes the fields that are given (not None); system roles are read-only."""
        principal = require_principal()
        async with self._db.transaction() as session:
            repository = RoleRepository(session)
            role, workspace_id = await self._custom_role(repository, role_id, principal.tenant_id)
            access = await self._permissions.require(principal, workspace_id, "role:update")
            current = await repository.permissions_of(role.id)
            changes: dict[str, object] = {}
            if name is not None and (new_name := valid_role_name(name)) != role.name:
                await self._ensure_name_free(repository, workspace_id, new_name)
                changes["name"] = {"from": role.name, "to": new_name}
                role.name = new_name
            if (
                description is not None
                and (new_description := valid_description(description)) != role.description
            ):
                changes["description"] = new_description
                role.description = new_description
            granted = current
            if permissions is not None and (granted := valid_permissions(permissions)) != current:
                ensure_grantable(access, granted)
                await repository.replace_permissions(role, granted)
                changes["permissions"] = {
                    "added": sorted(granted - current),
                    "removed": sorted(current - granted),
                }
            if changes:
                role.updated_at = utcnow()
                await self._record(session, AuditAction.ROLE_UPDATED, role, changes)
        if changes:
            await self._permissions.invalidate(workspace_id)
        return RoleRow(role=role, permissions=granted)

    async def delete(self, role_id: str) -> None:
        """Deletes a custom role nobody holds: CONFLICT while members or pending invitations hold it.
        Accepted, revoked and expired invitations of the role go with it."""
        principal = require_principal()
        async with self._db.transaction() as session:
            repository = RoleRepository(session)
            role, workspace_id = await self._custom_role(repository, role_id, principal.tenant_id)
            await self._permissions.require(principal, workspace_id, "role:delete")
            if holders := await repository.count_holders(role.id):
                raise Conflict(
                    f"{holders} member(s) still hold the role {role.name!r}: give them another first"
                )
            invitations = InvitationRepository(session)
            if pending := await invitations.count_pending_with_role(role.id, utcnow()):
                raise Conflict(
                    f"{pending} pending invitation(s) give the role {role.name!r}: revoke them first"
                )
            await invitations.delete_closed_with_role(role.id)
            await self._record(session, AuditAction.ROLE_DELETED, role, {"name": role.name})
            await repository.delete_role(role)
        await self._permissions.invalidate(workspace_id)

    @staticmethod
    async def _custom_role(
        repository: RoleRepository, role_id: str, tenant_id: str
    ) -> tuple[WorkspaceRole, str]:
        """The role, locked, and its workspace id; FORBIDDEN for a system role, NOT_FOUND for a missing one
        or another tenant's."""
        parsed = parse_id(role_id)
        role = None if parsed is None else await repository.role(parsed, lock=True)
        if role is not None and role.workspace_id is None:
            raise Forbidden("system roles cannot be changed or deleted")
        if role is None or role.workspace_id is None or role.tenant_id != tenant_id:
            raise NotFound(ROLE_NOT_FOUND)
        return role, role.workspace_id

    @staticmethod
    async def _ensure_name_free(repository: RoleRepository, workspace_id: str, name: str) -> None:
        if await repository.role_named(workspace_id=workspace_id, name=name) is not None:
            raise Conflict(f"the workspace already has a role named {name!r}", field="name")

    @staticmethod
    async def _record(
        session: AsyncSession, action: AuditAction, role: WorkspaceRole, details: dict[str, object]
    ) -> None:
        await record_audit(
            session,
            service=SERVICE,
            action=action,
            tenant_id=role.tenant_id or "",
            workspace_id=role.workspace_id,
            resource_type="role",
            resource_id=role.id,
            details=details,
        )
