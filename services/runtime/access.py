"""Who may do what, for every service that guards its data by workspace membership or tenant role.

Workspace permissions are the workspace service's to decide (over gRPC, with the caller's token forwarded);
provider connections and tenant models are tenant resources, so changing them needs the tenant-level role
owner or admin carried by the caller's token; the tenant's plan comes from `AuthService.GetMe`, through the
plan cache (services/runtime/plan_cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.runtime.backends import Cache
from services.runtime.clients import Channels
from services.runtime.context import Principal, current_principal, require_principal
from services.runtime.errors import Forbidden, NotFound
from services.runtime.ids import named_id, parse_id
from services.runtime.permission_cache import Access, PermissionCache
from services.runtime.plan_cache import PlanCache
from services.runtime.plans import PLAN_NAMES, PLANS

TENANT_ADMIN_ROLES = frozenset({"owner", "admin"})
WORKSPACE_NOT_FOUND = "workspace not found"


def plan_rank(plan: str) -> int:
    return PLANS.index(plan)


def require_user() -> Principal:
    """The caller, when a signed-in user of a tenant (a service forwarding a user's token counts as that
    user); FORBIDDEN for the bare service identity, which has no tenant to scope models by."""
    principal = require_principal()
    if not principal.user_id or not principal.tenant_id:
        raise Forbidden("call on behalf of a signed-in user")
    return principal


def require_tenant_admin() -> Principal:
    """The caller, when their tenant-level role is owner or admin."""
    principal = require_user()
    if principal.role not in TENANT_ADMIN_ROLES:
        raise Forbidden("only the tenant's owners and admins manage models and provider connections")
    return principal


@dataclass(frozen=True, slots=True)
class MemberAccess:
    """A user's role in a workspace and its permissions (from WorkspaceService.ListPermissions)."""

    role: str
    permissions: frozenset[str]


class WorkspaceAccess:
    """Permission checks against the workspace service; a workspace the caller is not in is NOT_FOUND.

    With the process's cache, a caller's own standing is read from the workspace service's permission cache
    first (services/runtime/permission_cache.py); only a miss, a non-member or a question about someone else
    costs a call. Likewise the tenant's plan (services/runtime/plan_cache.py)."""

    def __init__(self, channels: Channels, cache: Cache | None = None) -> None:
        self._channels = channels
        self._permissions = PermissionCache(cache) if cache is not None else None
        self._plans = PlanCache(cache) if cache is not None else None

    async def _cached(self, workspace_id: str, principal: Principal) -> Access | None:
        """The caller's own cached standing, when the cache holds a membership of their tenant."""
        if self._permissions is None or not principal.user_id:
            return None
        access = await self._permissions.current(workspace_id, principal.user_id)
        if access is None or not access.role or not access.visible_to(principal):
            return None
        return access

    def _stub(self) -> workspace_pb2_grpc.WorkspaceServiceStub:
        return self._channels.stub("workspace", workspace_pb2_grpc.WorkspaceServiceStub)

    async def require(self, workspace_id: str, permission: str) -> Principal:
        """The caller, when they hold `permission` in the workspace."""
        principal = require_user()
        workspace_id = canonical_workspace_id(workspace_id)
        cached = await self._cached(workspace_id, principal)
        if cached is not None:
            if permission not in cached.permissions:
                raise lacks_permission(cached.role, permission)
            return principal
        answer = await self._stub().CheckPermission(
            workspace_pb2.CheckPermissionRequest(workspace_id=workspace_id, permission=permission)
        )
        if not answer.role:
            raise NotFound(WORKSPACE_NOT_FOUND)
        if not answer.allowed:
            raise lacks_permission(answer.role, permission)
        return principal

    async def member(self, workspace_id: str, user_id: str) -> MemberAccess:
        """`user_id`'s (empty: the caller's) role and permissions; asking about someone else needs
        member:view (the workspace service checks). NOT_FOUND when that user is not a member."""
        principal = require_user()
        workspace_id = canonical_workspace_id(workspace_id)
        if not user_id or parse_id(user_id) == principal.user_id:
            cached = await self._cached(workspace_id, principal)
            if cached is not None:
                return MemberAccess(role=cached.role, permissions=cached.permissions)
        answer = await self._stub().ListPermissions(
            workspace_pb2.ListPermissionsRequest(workspace_id=workspace_id, user_id=user_id)
        )
        if not answer.role:
            raise NotFound(WORKSPACE_NOT_FOUND if not user_id else "no such member in this workspace")
        return MemberAccess(role=answer.role, permissions=frozenset(answer.permissions))

    async def tenant_plan(self) -> str:
        """The plan of the caller's tenant: free, pro or paygo. A cached plan is the one GetMe gave under the
        tenant's current generation; a caller without a tenant asks GetMe, which answers as it always did."""
        principal = current_principal.get()
        if self._plans is None or principal is None or not principal.tenant_id:
            return await self._plan_from_auth()
        generation = await self._plans.generation(principal.tenant_id)
        plan = await self._plans.get(principal.tenant_id, generation)
        if plan is None:
            plan = await self._plan_from_auth()
            await self._plans.put(principal.tenant_id, generation, plan)
        return plan

    async def _plan_from_auth(self) -> str:
        me = await self._channels.stub("auth", auth_pb2_grpc.AuthServiceStub).GetMe(auth_pb2.GetMeRequest())
        return PLAN_NAMES.get(me.user.tenant.plan, "free")


def lacks_permission(role: str, permission: str) -> Forbidden:
    """The FORBIDDEN answer to a member whose role lacks `permission` (the same words from every service)."""
    return Forbidden(f"your role {role!r} lacks the {permission} permission in this workspace")


def canonical_workspace_id(workspace_id: str) -> str:
    """The id in its canonical form (what rows and cache keys use); a malformed one names no workspace."""
    return named_id(workspace_id, field="workspace_id", not_found=WORKSPACE_NOT_FOUND)
