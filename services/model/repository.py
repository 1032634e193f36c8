"""All SQL of the catalog, its dated prices, provider connections and workspace model settings.

Queries are scoped by the tenant the service read from the caller: a tenant sees the platform's models
(tenant_id NULL) and its own, never another tenant's. Nothing here decides who may do what.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.model import ModelCatalog, ModelPrice, ProviderConnection, WorkspaceModel
from services.runtime.errors import Conflict


@dataclass(frozen=True, slots=True)
class CatalogQuery:
    """ListModels' filter; None / empty fields do not filter."""

    provider: str = ""
    type: str = ""
    is_local: bool | None = None
    is_free: bool | None = None
    query: str = ""


@contextmanager
def duplicates_as_conflict(message: str, field: str) -> Iterator[None]:
    """Wrap a transaction whose checked-first insert can still lose a race to a concurrent one: the unique
    constraint answers, and the caller gets CONFLICT instead of an internal error."""
    try:
        yield
    except IntegrityError:
        raise Conflict(message, field=field) from None


def _visible_to(tenant_id: str) -> ColumnElement[bool]:
    return or_(ModelCatalog.tenant_id.is_(None), ModelCatalog.tenant_id == tenant_id)


def visible_to(row: ModelCatalog | None, tenant_id: str) -> ModelCatalog | None:
    """The row when the tenant may see it (the platform's or its own): `_visible_to` for a loaded row."""
    return row if row is not None and row.tenant_id in (None, tenant_id) else None


class ModelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---- catalog ----

    async def models(
        self, tenant_id: str, query: CatalogQuery = CatalogQuery(), *, after_id: str = "", limit: int = 0
    ) -> Sequence[ModelCatalog]:
        """Models visible to the tenant matching `query`, ordered by id, after `after_id`."""
        select_ = select(ModelCatalog).where(_visible_to(tenant_id)).order_by(ModelCatalog.id)
        if query.provider:
            select_ = select_.where(ModelCatalog.provider == query.provider)
        if query.type:
            select_ = select_.where(ModelCatalog.type == query.type)
        if query.is_local is not None:
            select_ = select_.where(ModelCatalog.is_local.is_(query.is_local))
        if query.is_free is not None:
            select_ = select_.where(ModelCatalog.is_free.is_(query.is_free))
        if query.query:
            pattern = f"%{query.query.lower()}%"
            select_ = select_.where(
                or_(
                    func.lower(ModelCatalog.name).like(pattern),
                    func.lower(ModelCatalog.display_name).like(pattern),
                )
            )
        if after_id:
            select_ = select_.where(ModelCatalog.id > after_id)
        if limit:
            select_ = select_.limit(limit)
        return (await self.session.scalars(select_)).all()

    async def model(self, tenant_id: str, model_id: str) -> ModelCatalog | None:
        """The model when the tenant may see it (the platform's or its own)."""
        return visible_to(await self.session.get(ModelCatalog, model_id), tenant_id)

    async def any_model(self, model_id: str) -> ModelCatalog | None:
        """For the platform's own calls (no tenant): any tenant's model."""
        return await self.session.get(ModelCatalog, model_id)

    async def add_model(self, row: ModelCatalog) -> ModelCatalog:
        self.session.add(row)
        await self.session.flush()
        return row

    async def count_models_of_connection(self, connection_id: str) -> int:
        query = (
            select(func.count()).select_from(ModelCatalog).where(ModelCatalog.connection_id == connection_id)
        )
        return int(await self.session.scalar(query) or 0)

    # ---- prices ----

    async def prices_at(self, model_ids: Collection[str], at: datetime) -> dict[str, ModelPrice]:
        """Each model's price in force at `at`: the latest version with effective_from ≤ at."""
        if not model_ids:
            return {}
        rows = await self.session.scalars(
            select(ModelPrice)
            .where(ModelPrice.model_id.in_(model_ids), ModelPrice.effective_from <= at)
            .order_by(ModelPrice.model_id, ModelPrice.effective_from)
        )
        return {row.model_id: row for row in rows}  # the last (latest) per model wins

    async def prices_of(self, model_id: str) -> Sequence[ModelPrice]:
        """Every version of the model's price, oldest first."""
        query = select(ModelPrice).where(ModelPrice.model_id == model_id).order_by(ModelPrice.effective_from)
        return (await self.session.scalars(query)).all()

    async def price_history(self, model_id: str, *, offset: int, limit: int) -> Sequence[ModelPrice]:
        """Newest first."""
        query = (
            select(ModelPrice)
            .where(ModelPrice.model_id == model_id)
            .order_by(ModelPrice.effective_from.desc())
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()

    async def count_prices(self, model_id: str) -> int:
        query = select(func.count()).select_from(ModelPrice).where(ModelPrice.model_id == model_id)
        return int(await self.session.scalar(query) or 0)

    async def price_effective_at_exactly(self, model_id: str, at: datetime) -> ModelPrice | None:
        query = select(ModelPrice).where(ModelPrice.model_id == model_id, ModelPrice.effective_from == at)
        return (await self.session.scalars(query)).first()

    async def add_price(self, row: ModelPrice) -> ModelPrice:
        self.session.add(row)
        await self.session.flush()
        return row

    # ---- provider connections ----

    async def connections(
        self, tenant_id: str, *, after_id: str | None = None, limit: int | None = None
    ) -> Sequence[ProviderConnection]:
        """The tenant's connections in id (creation) order, after `after_id`."""
        query = (
            select(ProviderConnection)
            .where(ProviderConnection.tenant_id == tenant_id)
            .order_by(ProviderConnection.id)
            .limit(limit)
        )
        if after_id is not None:
            query = query.where(ProviderConnection.id > after_id)
        return (await self.session.scalars(query)).all()

    async def count_connections(self, tenant_id: str) -> int:
        query = (
            select(func.count())
            .select_from(ProviderConnection)
            .where(ProviderConnection.tenant_id == tenant_id)
        )
        return int(await self.session.scalar(query) or 0)

    async def connection(self, tenant_id: str, connection_id: str) -> ProviderConnection | None:
        row = await self.session.get(ProviderConnection, connection_id)
        return row if row is not None and row.tenant_id == tenant_id else None

    async def connection_named(self, tenant_id: str, name: str) -> ProviderConnection | None:
        query = select(ProviderConnection).where(
            ProviderConnection.tenant_id == tenant_id, ProviderConnection.name == name
        )
        return (await self.session.scalars(query)).first()

    async def add_connection(self, row: ProviderConnection) -> ProviderConnection:
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete_connection(self, row: ProviderConnection) -> None:
        await self.session.delete(row)
        await self.session.flush()

    # ---- workspace settings ----

    async def workspace_settings(self, workspace_id: str) -> Sequence[WorkspaceModel]:
        query = select(WorkspaceModel).where(WorkspaceModel.workspace_id == workspace_id)
        return (await self.session.scalars(query)).all()

    async def add_workspace_setting(self, row: WorkspaceModel) -> WorkspaceModel:
        self.session.add(row)
        await self.session.flush()
        return row
