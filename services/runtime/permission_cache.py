"""The cache of workspace permissions: written by the workspace service, read by every service that
checks them.

Entries live in a `GenerationCache` (services/runtime/generation_cache.py: why they are never stale) as
`perm:<workspace>:<generation>:<user>`; the workspace service bumps the generation right after every commit
that changes a membership, role or workspace.

Other services read entries here before asking `WorkspaceService` over gRPC (services/runtime/access.py): a
chat turn checks permissions in four services, and a loopback call costs far more than a cache read. Only the
workspace service writes; a reader whose cache is not the workspace service's (no shared Redis) just misses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from services.runtime.backends import Cache
from services.runtime.context import Principal
from services.runtime.generation_cache import GenerationCache


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

    @staticmethod
    @lru_cache(maxsize=4096)
    def from_json(raw: bytes) -> Access:
        """Decoded once per distinct entry: a chat turn reads the same one in several services, and decoding
        it (JSON, a frozenset of its permissions) cost more than the cache read. Entries are immutable, like
        the `Access` they decode to."""
        body = json.loads(raw)
        return Access(
            workspace_id=body["workspace_id"],
            tenant_id=body["tenant_id"],
            role=body["role"],
            permissions=frozenset(body["permissions"]),
        )


NO_ACCESS = Access(workspace_id="", tenant_id="", role="", permissions=frozenset())


class PermissionCache:
    """Lookups by canonical workspace and user ids."""

    def __init__(self, cache: Cache) -> None:
        self._entries = GenerationCache(cache, "perm")

    async def generation(self, workspace_id: str) -> int:
        return await self._entries.generation(workspace_id)

    async def get(self, workspace_id: str, generation: int, user_id: str) -> Access | None:
        raw = await self._entries.get(workspace_id, generation, user_id)
        return Access.from_json(raw) if raw is not None else None

    async def current(self, workspace_id: str, user_id: str) -> Access | None:
        """The entry of the current generation, if any."""
        return await self.get(workspace_id, await self.generation(workspace_id), user_id)

    async def put(self, workspace_id: str, generation: int, user_id: str, access: Access) -> None:
        await self._entries.put(workspace_id, generation, access.to_json(), user_id)

    async def invalidate(self, workspace_id: str) -> None:
        await self._entries.invalidate(workspace_id)
