"""A workspace's model settings: which models are enabled, and per model a cost override and a token cap.

A model without a `workspace_models` row is enabled with no overrides, so a new workspace can use the whole
catalog; SetWorkspaceModels writes a row for every model the tenant sees, making the enabled set exact.

Reads come from a `GenerationCache` (services/runtime/generation_cache.py) as
`wsmodels:<workspace>:<generation>`: a change bumps the generation right after its commit, so a disabled model
disappears for every member at once, on every replica. Each process also holds the decoded settings under that
generation (process_memo.py), so a chat turn reads only the generation from the shared cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from db.models.model import ModelCatalog, WorkspaceModel
from services.events.audit import AuditAction, record_audit
from services.model.process_memo import ProcessMemo
from services.model.repository import ModelRepository, duplicates_as_conflict
from services.runtime.access import WorkspaceAccess, canonical_workspace_id
from services.runtime.backends import Cache
from services.runtime.database import Database
from services.runtime.errors import BadInput, NotFound
from services.runtime.generation_cache import GenerationCache

SERVICE = "model"
VIEW_PERMISSION = "member:view"
CONFIGURE_PERMISSION = "model:configure"
CHANGED_CONCURRENTLY = "the workspace's model settings changed at the same time; try again"


@dataclass(frozen=True, slots=True)
class Setting:
    """One model's setting in a workspace (the defaults when it has no row)."""

    model_id: str
    enabled: bool = True
    cost_override_micros: int | None = None
    max_tokens_override: int | None = None


class Settings:
    """A workspace's settings by model id; a model not in it has the defaults. Read-only once built: a process
    shares one per workspace and generation."""

    def __init__(self, settings: Iterable[Setting]) -> None:
        self._by_model = {setting.model_id: setting for setting in settings}

    def of(self, model_id: str) -> Setting:
        return self._by_model.get(model_id) or Setting(model_id)

    def to_json(self) -> bytes:
        return json.dumps(
            [
                [s.model_id, s.enabled, s.cost_override_micros, s.max_tokens_override]
                for s in self._by_model.values()
            ],
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Settings:
        return cls(Setting(*entry) for entry in json.loads(raw))

    @classmethod
    def from_rows(cls, rows: Iterable[WorkspaceModel]) -> Settings:
        return cls(
            Setting(row.model_id, row.enabled, row.custom_cost_override_micros, row.max_tokens_override)
            for row in rows
        )


class WorkspaceModelService:
    def __init__(self, database: Database, cache: Cache, access: WorkspaceAccess) -> None:
        self._db = database
        self._cache = GenerationCache(cache, "wsmodels")
        self._held: ProcessMemo[str, Settings] = ProcessMemo()
        self._access = access

    async def settings(self, workspace_id: str) -> Settings:
        """The workspace's settings from the cache (the caller checked access to the workspace)."""
        generation = await self._cache.generation(workspace_id)
        settings = self._held.get(workspace_id, generation)
        if settings is not None:
            return settings
        cached = await self._cache.get(workspace_id, generation)
        if cached is not None:
            settings = Settings.from_json(cached)
        else:
            async with self._db.session() as session:
                settings = Settings.from_rows(await ModelRepository(session).workspace_settings(workspace_id))
            await self._cache.put(workspace_id, generation, settings.to_json())
        self._held.put(workspace_id, generation, settings)
        return settings

    async def get(self, workspace_id: str) -> list[Setting]:
        workspace_id = canonical_workspace_id(workspace_id)
        principal = await self._access.require(workspace_id, VIEW_PERMISSION)
        models = await self._visible_models(principal.tenant_id)
        settings = await self.settings(workspace_id)
        return [settings.of(model.id) for model in models]

    async def set_enabled(self, workspace_id: str, enabled_model_ids: Sequence[str]) -> list[Setting]:
        workspace_id = canonical_workspace_id(workspace_id)
        principal = await self._access.require(workspace_id, CONFIGURE_PERMISSION)
        wanted = {model_id.strip() for model_id in enabled_model_ids}
        with duplicates_as_conflict(CHANGED_CONCURRENTLY, "workspace_id"):
            async with self._db.transaction() as session:
                repository = ModelRepository(session)
                models = await repository.models(principal.tenant_id)
                unknown = wanted - {model.id for model in models}
                if unknown:
                    raise BadInput(
                        f"unknown model ids: {', '.join(sorted(unknown))}", field="enabled_model_ids"
                    )
                rows = {row.model_id: row for row in await repository.workspace_settings(workspace_id)}
                for model in models:
                    enable = model.id in wanted
                    row = rows.get(model.id)
                    if row is None:
                        row = await repository.add_workspace_setting(
                            WorkspaceModel(
                                tenant_id=principal.tenant_id,
                                workspace_id=workspace_id,
                                model_id=model.id,
                                enabled=True,
                            )
                        )
                    if row.enabled == enable:
                        continue
                    row.enabled = enable
                    await record_audit(
                        session,
                        service=SERVICE,
                        action=AuditAction.MODEL_ENABLED if enable else AuditAction.MODEL_DISABLED,
                        tenant_id=principal.tenant_id,
                        workspace_id=workspace_id,
                        resource_type="model",
                        resource_id=model.id,
                    )
                await session.flush()
                settings = Settings.from_rows(await repository.workspace_settings(workspace_id))
        await self.invalidate(workspace_id)
        return [settings.of(model.id) for model in models]

    async def update(
        self,
        workspace_id: str,
        model_id: str,
        *,
        cost_override_micros: int | None,
        max_tokens_override: int | None,
    ) -> Setting:
        workspace_id = canonical_workspace_id(workspace_id)
        principal = await self._access.require(workspace_id, CONFIGURE_PERMISSION)
        if cost_override_micros is not None and cost_override_micros < 0:
            raise BadInput("cost_override_micros must not be negative", field="cost_override_micros")
        with duplicates_as_conflict(CHANGED_CONCURRENTLY, "workspace_id"):
            async with self._db.transaction() as session:
                repository = ModelRepository(session)
                model = (
                    await repository.model(principal.tenant_id, model_id.strip())
                    if model_id.strip()
                    else None
                )
                if model is None:
                    raise NotFound("model not found", field="model_id")
                _check_max_tokens(model, max_tokens_override)
                rows = {row.model_id: row for row in await repository.workspace_settings(workspace_id)}
                row = rows.get(model.id) or await repository.add_workspace_setting(
                    WorkspaceModel(
                        tenant_id=principal.tenant_id,
                        workspace_id=workspace_id,
                        model_id=model.id,
                        enabled=True,
                    )
                )
                before = (row.custom_cost_override_micros, row.max_tokens_override)
                row.custom_cost_override_micros = cost_override_micros
                row.max_tokens_override = max_tokens_override
                if before != (cost_override_micros, max_tokens_override):
                    await record_audit(
                        session,
                        service=SERVICE,
                        action=AuditAction.MODEL_SETTINGS_CHANGED,
                        tenant_id=principal.tenant_id,
                        workspace_id=workspace_id,
                        resource_type="model",
                        resource_id=model.id,
                        details={
                            "cost_override_micros": cost_override_micros,
                            "max_tokens_override": max_tokens_override,
                        },
                    )
                await session.flush()
                setting = Setting(model.id, row.enabled, cost_override_micros, max_tokens_override)
        await self.invalidate(workspace_id)
        return setting

    async def invalidate(self, workspace_id: str) -> None:
        """Call right after committing a change to the workspace's model settings."""
        await self._cache.invalidate(workspace_id)

    async def _visible_models(self, tenant_id: str) -> Sequence[ModelCatalog]:
        async with self._db.session() as session:
            return await ModelRepository(session).models(tenant_id)


def _check_max_tokens(model: ModelCatalog, max_tokens: int | None) -> None:
    if max_tokens is None:
        return
    if max_tokens <= 0:
        raise BadInput("max_tokens_override must be positive", field="max_tokens_override")
    if max_tokens > model.max_output_tokens:
        raise BadInput(
            f"max_tokens_override cannot exceed the model's {model.max_output_tokens} output tokens",
            field="max_tokens_override",
        )
