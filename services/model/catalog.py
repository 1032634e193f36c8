"""The model catalog: the platform's models plus each tenant's own, with the price in force now.

A tenant sees platform models and its own; another tenant's model does not exist for it (NOT_FOUND). Tenant
models are tenant resources: the tenant's owners and admins add and change them, on one of the tenant's
provider connections. Prices change only through prices.py (a new dated version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from db.models.model import MODEL_TYPES, ModelCatalog, ModelPrice
from services.events.audit import AuditAction, record_audit
from services.model.catalog_cache import CatalogCache
from services.model.installs_repository import InstallsRepository
from services.model.prices import DEFAULT_CURRENCY, MODEL_NOT_FOUND, check_currency, check_price
from services.model.repository import CatalogQuery, ModelRepository
from services.runtime.access import require_tenant_admin, require_user
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.errors import BadInput, Forbidden, NotFound
from services.runtime.ids import parse_id
from services.runtime.plans import PLANS

SERVICE = "model"
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ModelView:
    """A catalog row with what answers show beside it: the current price and, for local models, installed."""

    row: ModelCatalog
    price: ModelPrice | None
    installed: bool


@dataclass(frozen=True, slots=True)
class NewModel:
    connection_id: str
    name: str
    display_name: str
    type: str
    context_window: int
    max_output_tokens: int
    min_plan: str
    is_free: bool
    max_free_tokens_per_month: int
    input_micros_per_1k: int
    output_micros_per_1k: int
    currency: str


@dataclass(frozen=True, slots=True)
class ModelChanges:
    """UpdateModel's fields; None leaves a field as it is."""

    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    min_plan: str | None = None
    is_free: bool | None = None
    max_free_tokens_per_month: int | None = None


async def views(repository: ModelRepository, tenant_id: str, rows: Sequence[ModelCatalog]) -> list[ModelView]:
    """Rows with their current prices and install state, in two queries whatever the number of rows."""
    prices = await repository.prices_at([row.id for row in rows], utcnow())
    installed = await InstallsRepository(repository.session).installed_model_ids(tenant_id)
    return [ModelView(row, prices.get(row.id), row.is_local and row.id in installed) for row in rows]


class CatalogService:
    """Lists and changes catalog rows; a change commits, then drops the cached catalog (catalog_cache.py)."""

    def __init__(self, database: Database, catalog: CatalogCache) -> None:
        self._db = database
        self._catalog = catalog

    async def list(self, query: CatalogQuery, *, after_id: str, limit: int) -> list[ModelView]:
        tenant_id = require_user().tenant_id
        async with self._db.session() as session:
            repository = ModelRepository(session)
            rows = await repository.models(tenant_id, query, after_id=after_id, limit=limit)
            return await views(repository, tenant_id, rows)

    async def get(self, model_id: str) -> ModelView:
        tenant_id = require_user().tenant_id
        async with self._db.session() as session:
            repository = ModelRepository(session)
            row = await _visible_model(repository, tenant_id, model_id)
            return (await views(repository, tenant_id, [row]))[0]

    async def create(self, new: NewModel) -> ModelView:
        principal = require_tenant_admin()
        name = _text(new.name, "name")
        display_name = _text(new.display_name or name, "display_name")
        _check_model_type(new.type)
        _check_limits(new.context_window, new.max_output_tokens)
        _check_plan(new.min_plan)
        _check_free_tokens(new.max_free_tokens_per_month)
        check_price(new.input_micros_per_1k, "input_price_per_1k_tokens_micros")
        check_price(new.output_micros_per_1k, "output_price_per_1k_tokens_micros")
        currency = check_currency(new.currency or DEFAULT_CURRENCY)
        async with self._db.transaction() as session:
            repository = ModelRepository(session)
            connection_id = parse_id(new.connection_id)
            connection = (
                await repository.connection(principal.tenant_id, connection_id) if connection_id else None
            )
            if connection is None:
                raise NotFound("provider connection not found", field="connection_id")
            row = await repository.add_model(
                ModelCatalog(
                    tenant_id=principal.tenant_id,
                    provider=connection.name,
                    name=name,
                    display_name=display_name,
                    type=new.type,
                    is_local=False,
                    is_free=new.is_free,
                    min_plan=new.min_plan,
                    max_free_tokens_per_month=new.max_free_tokens_per_month or None,
                    context_window=new.context_window,
                    max_output_tokens=new.max_output_tokens,
                    connection_id=connection.id,
                )
            )
            price = await repository.add_price(
                ModelPrice(
                    model_id=row.id,
                    input_micros_per_1k=new.input_micros_per_1k,
                    output_micros_per_1k=new.output_micros_per_1k,
                    currency=currency,
                    effective_from=utcnow(),
                )
            )
            await record_audit(
                session,
                service=SERVICE,
                action=AuditAction.MODEL_CREATED,
                tenant_id=principal.tenant_id,
                resource_type="model",
                resource_id=row.id,
                details={"name": name, "connection_id": connection.id, "min_plan": new.min_plan},
            )
        await self._catalog.invalidate()
        return ModelView(row, price, installed=False)

    async def update(self, model_id: str, changes: ModelChanges) -> ModelView:
        principal = require_tenant_admin()
        if changes.display_name is not None:
            _text(changes.display_name, "display_name")
        if changes.min_plan is not None:
            _check_plan(changes.min_plan)
        if changes.max_free_tokens_per_month is not None:
            _check_free_tokens(changes.max_free_tokens_per_month)
        async with self._db.transaction() as session:
            repository = ModelRepository(session)
            row = await _visible_model(repository, principal.tenant_id, model_id)
            if row.tenant_id is None:
                raise Forbidden("platform models are changed by the platform operator, not by tenants")
            _check_limits(
                row.context_window if changes.context_window is None else changes.context_window,
                row.max_output_tokens if changes.max_output_tokens is None else changes.max_output_tokens,
            )
            wanted: dict[str, object] = {
                field: value
                for field, value in (
                    ("display_name", None if changes.display_name is None else changes.display_name.strip()),
                    ("context_window", changes.context_window),
                    ("max_output_tokens", changes.max_output_tokens),
                    ("min_plan", changes.min_plan),
                    ("is_free", changes.is_free),
                )
                if value is not None
            }
            if changes.max_free_tokens_per_month is not None:
                wanted["max_free_tokens_per_month"] = changes.max_free_tokens_per_month or None  # 0: no cap
            changed = {field: value for field, value in wanted.items() if getattr(row, field) != value}
            for field, value in changed.items():
                setattr(row, field, value)
            if changed:
                await session.flush()
                await record_audit(
                    session,
                    service=SERVICE,
                    action=AuditAction.MODEL_UPDATED,
                    tenant_id=principal.tenant_id,
                    resource_type="model",
                    resource_id=row.id,
                    details={"changed": changed},
                )
            view = (await views(repository, principal.tenant_id, [row]))[0]
        await self._catalog.invalidate()
        return view


async def _visible_model(repository: ModelRepository, tenant_id: str, model_id: str) -> ModelCatalog:
    if not model_id.strip():
        raise BadInput("model id is required", field="id")
    row = await repository.model(tenant_id, model_id.strip())
    if row is None:
        raise NotFound(MODEL_NOT_FOUND)
    return row


def _text(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise BadInput(f"{field} is required", field=field)
    if len(text) > MAX_NAME_LENGTH:
        raise BadInput(f"{field} is longer than {MAX_NAME_LENGTH} characters", field=field)
    return text


def _check_model_type(model_type: str) -> None:
    if model_type not in MODEL_TYPES:
        raise BadInput(f"type must be one of {', '.join(MODEL_TYPES)}", field="type")


def _check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise BadInput(f"min_plan must be one of {', '.join(PLANS)}", field="min_plan")


def _check_limits(context_window: int, max_output_tokens: int) -> None:
    if context_window <= 0:
        raise BadInput("context_window must be positive", field="context_window")
    if max_output_tokens <= 0:
        raise BadInput("max_output_tokens must be positive", field="max_output_tokens")
    if max_output_tokens > context_window:
        raise BadInput("max_output_tokens cannot exceed context_window", field="max_output_tokens")


def _check_free_tokens(tokens: int) -> None:
    if tokens < 0:
        raise BadInput("max_free_tokens_per_month must not be negative", field="max_free_tokens_per_month")
