"""Who may do what in a workspace: the caller's role and permissions, read through the shared permission cache
(services/runtime/permission_cache.py: its generation rule is what keeps a grant from ever being stale).

Every RPC of the service asks here first, and other services read the same cache (or ask CheckPermission).
"""

from __future__ import annotations

from db.seed import PERMISSIONS
from services.runtime.access import lacks_permission
from services.runtime.backends import Cache
from services.runtime.context import Principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, NotFound
from services.runtime.ids import parse_id
from services.runtime.permission_cache import NO_ACCESS, Access, PermissionCache
from services.workspace.repository import AccessRepository

NOT_FOUND_MESSAGE = "workspace not found"


def require_known_permission(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise BadInput(f"unknown permission {permission!r}", field="permission")
    return permission


class Permissions:
    """Cached access lookups and the checks every operation starts with."""

    def __init__(self, database: Database, cache: Cache) -> None:
        self._db = database
        self._cache = PermissionCache(cache)

    async def access(self, workspace_id: str, user_id: str) -> Access:
        """The user's access to the workspace; NO_ACCESS for ids that cannot exist."""
        workspace_id = parse_id(workspace_id) or ""
        user_id = parse_id(user_id) or ""
        if not workspace_id or not user_id:
            return NO_ACCESS
        generation = await self._cache.generation(workspace_id)
        cached = await self._cache.get(workspace_id, generation, user_id)
        if cached is not None:
            return cached
        async with self._db.session() as session:
            found = await AccessRepository(session).access(workspace_id=workspace_id, user_id=user_id)
        access = (
            NO_ACCESS
            if found is None
            else Access(
                workspace_id=workspace_id,
                tenant_id=found.tenant_id,
                role=found.role,
                permissions=frozenset(found.permissions),
            )
        )
        await self._cache.put(workspace_id, generation, user_id, access)
        return access

    async def invalidate(self, workspace_id: str) -> None:
        """Call right after committing a change to the workspace, its members or its roles."""
        await self._cache.invalidate(workspace_id)

    async def require_member(self, principal: Principal, workspace_id: str) -> Access:
        """The caller's access; NOT_FOUND unless the caller is an active member of this live workspace of
        their tenant (a workspace one cannot see does not exist, whoever asks). Callers go on with
        `access.workspace_id`, the canonical form of the id they were given."""
        if not workspace_id.strip():
            raise BadInput("workspace_id is required", field="workspace_id")
        access = await self.access(workspace_id, principal.user_id)
        if not access.role or not access.visible_to(principal):
            raise NotFound(NOT_FOUND_MESSAGE)
        return access

    async def require(self, principal: Principal, workspace_id: str, permission: str) -> Access:
        """As `require_member`, and FORBIDDEN naming `permission` when the caller's role lacks it."""
        access = await self.require_member(principal, workspace_id)
        if permission not in access.permissions:
            raise lacks_permission(access.role, permission)
        return access

    async def of_user(self, principal: Principal, workspace_id: str, user_id: str) -> Access:
        """What CheckPermission and ListPermissions answer: the access of `user_id` (empty: the caller).
        Asking about oneself needs nothing; about someone else, member:view there or a service caller."""
        if not workspace_id:
            raise BadInput("workspace_id is required", field="workspace_id")
        target = user_id or principal.user_id
        if not target:
            raise BadInput("user_id is required", field="user_id")
        if parse_id(target) is None:
            raise BadInput("user_id is not a valid id", field="user_id")
        if parse_id(target) != principal.user_id and not principal.is_service:
            await self.require(principal, workspace_id, "member:view")
        access = await self.access(workspace_id, target)
        return access if access.visible_to(principal) else NO_ACCESS

    async def own_listing(self, principal: Principal, workspace_id: str, user_id: str) -> Access:
        """ListPermissions: like `of_user`, but a caller asking about a workspace they are not in gets
        NOT_FOUND, as for every other operation on it (an empty list would stand out)."""
        access = await self.of_user(principal, workspace_id, user_id)
        asks_about_self = parse_id(user_id or principal.user_id) == principal.user_id
        if asks_about_self and not access.role:
            raise NotFound(NOT_FOUND_MESSAGE)
        return access
