"""Who may do what in a workspace: the caller's role and permissions, read through a cache.

Every RPC of the service asks here first, and other services ask through CheckPermission, so an answer comes
from the cache (`deps.backends.cache`: Redis when distributed, in-process when embedded) with a 5-minute TTL.

Never a stale grant: entries live under a per-workspace generation, `perm:<workspace>:<generation>:<user>`.
A change bumps the generation right after its commit, so the very next lookup on any replica misses and reads
the database. A lookup reads the generation before the database, so one that raced a change can only store its
answer under the old generation, which nobody reads any more. The generation key has no TTL: if it expired,
the counter would restart and could land on a generation whose entries are still alive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from db.seed import PERMISSIONS
from services.runtime.backends import Cache
from services.runtime.context import Principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, Forbidden, NotFound
from services.runtime.ids import parse_id
from services.workspace.repository import AccessRepository

CACHE_TTL_SECONDS = 300.0
NOT_FOUND_MESSAGE = "workspace not found"


@dataclass(frozen=True, slots=True)
class Access:
    """A user's standing in a workspace. `workspace_id` is the canonical id and `tenant_id` the workspace's
    (both "" when no live workspace has the id); `role` is "" when the user is not an active member, and then
    `permissions` is empty."""

    workspace_id: str
    tenant_id: str
    role: str
    permissions: frozenset[str]

    def visible_to(self, principal: Principal) -> bool:
        """Whether the workspace exists for this caller: live, in the caller's tenant (services see all)."""
        return bool(self.tenant_id) and (principal.is_service or self.tenant_id == principal.tenant_id)

    def to_json(self) -> bytes:
        body = {
            "workspace_id": self.workspace_id,
            "tenant_id": self.tenant_id,
            "role": self.role,
            "permissions": sorted(self.permissions),
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Access:
        body = json.loads(raw)
        return cls(
            workspace_id=body["workspace_id"],
            tenant_id=body["tenant_id"],
            role=body["role"],
            permissions=frozenset(body["permissions"]),
        )


NO_ACCESS = Access(workspace_id="", tenant_id="", role="", permissions=frozenset())


def require_known_permission(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise BadInput(f"unknown permission {permission!r}", field="permission")
    return permission


def lacks_permission(role: str, permission: str) -> Forbidden:
    """The FORBIDDEN answer to a member whose role lacks `permission`."""
    return Forbidden(f"your role {role!r} lacks the {permission} permission in this workspace")


class Permissions:
    """Cached access lookups and the checks every operation starts with."""

    def __init__(self, database: Database, cache: Cache) -> None:
        self._db = database
        self._cache = cache

    async def access(self, workspace_id: str, user_id: str) -> Access:
        """The user's access to the workspace; NO_ACCESS for ids that cannot exist."""
        workspace_id = parse_id(workspace_id) or ""
        user_id = parse_id(user_id) or ""
        if not workspace_id or not user_id:
            return NO_ACCESS
        generation = await self._generation(workspace_id)
        key = f"perm:{workspace_id}:{generation}:{user_id}"
        cached = await self._cache.get(key)
        if cached is not None:
            return Access.from_json(cached)
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
        await self._cache.set(key, access.to_json(), CACHE_TTL_SECONDS)
        return access

    async def invalidate(self, workspace_id: str) -> None:
        """Call right after committing a change to the workspace, its members or its roles."""
        await self._cache.incr(self._generation_key(workspace_id))

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

    async def _generation(self, workspace_id: str) -> int:
        raw = await self._cache.get(self._generation_key(workspace_id))
        return int(raw) if raw is not None else 0

    @staticmethod
    def _generation_key(workspace_id: str) -> str:
        return f"perm-gen:{workspace_id}"
