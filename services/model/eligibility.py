"""Which models a user may use in a workspace, and why not.

usable = the plan rule (free: min_plan free, plus every local model; pro and paygo: all) ∩ enabled in the
workspace ∩ the user's permission for the model's class (model:use:local, model:use:free for free cloud
models, model:use:premium for the rest) ∩, for local models, installed ∩, for the platform's cloud models, an
API key configured for their provider. Every model the tenant sees is in the answer; an unusable one carries
the first reason in that order, so the reason shown is the one to fix first (an upgrade, then the admin's
switch, then the role, then the install or the operator's key).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from db.models.model import ModelCatalog
from services.model.catalog import ModelView, views
from services.model.catalog_cache import CatalogCache
from services.model.connections import ConnectionService, Route
from services.model.installs_repository import InstallsRepository
from services.model.repository import ModelRepository, visible_to
from services.model.workspace_models import Setting, Settings, WorkspaceModelService
from services.runtime.access import (
    MemberAccess,
    WorkspaceAccess,
    canonical_workspace_id,
    plan_rank,
    require_user,
)
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.errors import BadInput, NotFound


class Reason(StrEnum):
    PLAN_REQUIRED = "PLAN_REQUIRED"
    DISABLED_BY_ADMIN = "DISABLED_BY_ADMIN"
    PERMISSION_REQUIRED = "PERMISSION_REQUIRED"
    NOT_INSTALLED = "NOT_INSTALLED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class Eligibility:
    view: ModelView
    reason: Reason | None  # None: usable
    setting: Setting

    @property
    def usable(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class Resolved:
    eligibility: Eligibility
    route: Route | None  # only when usable
    max_output_tokens: int


def use_permission(model: ModelCatalog) -> str:
    if model.is_local:
        return "model:use:local"
    return "model:use:free" if model.is_free else "model:use:premium"


def reason_for(
    view: ModelView,
    *,
    plan: str,
    setting: Setting,
    permissions: frozenset[str],
    keyed_providers: frozenset[str],
) -> Reason | None:
    model = view.row
    if not model.is_local and plan_rank(plan) < plan_rank(model.min_plan):
        return Reason.PLAN_REQUIRED
    if not setting.enabled:
        return Reason.DISABLED_BY_ADMIN
    if use_permission(model) not in permissions:
        return Reason.PERMISSION_REQUIRED
    if model.is_local and not view.installed:
        return Reason.NOT_INSTALLED
    # A tenant's own connection may be keyless (vLLM, LM Studio); the platform's cloud providers are not.
    if not model.is_local and model.connection_id is None and model.provider not in keyed_providers:
        return Reason.PROVIDER_UNAVAILABLE
    return None


class EligibilityService:
    """`list` reads the database (the models page); `resolve`, on every chat turn, reads the cached catalog
    (catalog_cache.py) and asks the database only whether a local model is installed."""

    def __init__(
        self,
        database: Database,
        access: WorkspaceAccess,
        workspace_models: WorkspaceModelService,
        connections: ConnectionService,
        catalog: CatalogCache,
    ) -> None:
        self._db = database
        self._access = access
        self._workspace_models = workspace_models
        self._connections = connections
        self._catalog = catalog

    async def _standing(self, workspace_id: str, user_id: str) -> tuple[MemberAccess, str, Settings]:
        """The member's permissions, the tenant's plan and the workspace's model settings, asked one after
        the other rather than gathered: each is a cache read (a Redis round trip at most), while a gather
        costs three tasks and three loop rounds, worth more under load than the overlap (every turn comes
        here)."""
        member = await self._access.member(workspace_id, user_id)
        plan = await self._access.tenant_plan()
        settings = await self._workspace_models.settings(workspace_id)
        return member, plan, settings

    async def list(self, workspace_id: str, user_id: str) -> list[Eligibility]:
        workspace_id = canonical_workspace_id(workspace_id)
        tenant_id = require_user().tenant_id
        member, plan, settings = await self._standing(workspace_id, user_id)
        async with self._db.session() as session:
            repository = ModelRepository(session)
            model_views = await views(repository, tenant_id, await repository.models(tenant_id))
        keyed = self._connections.keyed_platform_providers()
        return [_judge(view, plan, settings, member.permissions, keyed) for view in model_views]

    async def resolve(self, workspace_id: str, user_id: str, model_id: str) -> Resolved:
        workspace_id = canonical_workspace_id(workspace_id)
        tenant_id = require_user().tenant_id
        if not model_id.strip():
            raise BadInput("model_id is required", field="model_id")
        member, plan, settings = await self._standing(workspace_id, user_id)
        entry = await self._catalog.entry(model_id.strip())
        row = visible_to(entry.row if entry is not None else None, tenant_id)
        if entry is None or row is None:
            raise NotFound("model not found", field="model_id")
        installed = row.is_local and await self._installed(tenant_id, row)
        view = ModelView(row, entry.price_at(utcnow()), installed)
        keyed = self._connections.keyed_platform_providers()
        eligibility = _judge(view, plan, settings, member.permissions, keyed)
        route = self._connections.route(row, entry.connection) if eligibility.usable else None
        cap = eligibility.setting.max_tokens_override
        max_output = min(row.max_output_tokens, cap) if cap else row.max_output_tokens
        return Resolved(eligibility, route, max_output)

    async def _installed(self, tenant_id: str, model: ModelCatalog) -> bool:
        async with self._db.session() as session:
            return model.id in await InstallsRepository(session).installed_model_ids(tenant_id)


def _judge(
    view: ModelView, plan: str, settings: Settings, permissions: frozenset[str], keyed: frozenset[str]
) -> Eligibility:
    setting = settings.of(view.row.id)
    reason = reason_for(view, plan=plan, setting=setting, permissions=permissions, keyed_providers=keyed)
    return Eligibility(view, reason, setting)
