"""Model prices, versioned by effective date: a change is a new `model_prices` row that applies from its time
on; past rows are never rewritten, so usage already costed keeps its cost.

Who sets them: a platform model's price only the platform itself (the service identity, e.g. an operator
tool); a tenant model's price that tenant's owners and admins. A sanity guard refuses negative prices, and a
price more than 100x the one it replaces (input or output) unless forced: reason PRICE_JUMP. From a price of
0 any positive price is such a jump.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.models.model import ModelCatalog, ModelPrice
from services.events.audit import AuditAction, record_audit
from services.model.catalog_cache import CatalogCache
from services.model.repository import ModelRepository, duplicates_as_conflict, visible_to
from services.runtime.access import TENANT_ADMIN_ROLES
from services.runtime.clock import utcnow
from services.runtime.context import Principal, require_principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, Conflict, Forbidden, NotFound
from services.runtime.logging import get_logger

SERVICE = "model"
DEFAULT_CURRENCY = "USD"
MAX_JUMP = 100
PRICE_JUMP = "PRICE_JUMP"
PRICE_EXISTS = "the model already has a price from this time"
MODEL_NOT_FOUND = "model not found"

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class NewPrice:
    model_id: str
    input_micros_per_1k: int
    output_micros_per_1k: int
    currency: str
    effective_from: datetime | None  # None: now
    force: bool


@dataclass(frozen=True, slots=True)
class EffectivePrice:
    input_micros_per_1k: int
    output_micros_per_1k: int
    currency: str
    overridden: bool


def check_price(micros: int, field: str) -> None:
    if micros < 0:
        raise BadInput(f"{field} must not be negative", field=field)


def check_currency(currency: str) -> str:
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise BadInput("currency must be an ISO 4217 code such as USD", field="currency")
    return code


def _is_jump(new: int, previous: int) -> bool:
    return new > previous * MAX_JUMP


class PriceService:
    """Sets and reads prices; the price in force comes from the cached catalog (catalog_cache.py), which a
    new price drops right after its commit."""

    def __init__(self, database: Database, catalog: CatalogCache) -> None:
        self._db = database
        self._catalog = catalog

    async def set(self, new: NewPrice) -> ModelPrice:
        principal = require_principal()
        check_price(new.input_micros_per_1k, "input_price_per_1k_tokens_micros")
        check_price(new.output_micros_per_1k, "output_price_per_1k_tokens_micros")
        now = utcnow()
        effective_from = new.effective_from or now
        if effective_from < now:
            raise BadInput(
                "effective_time must not be in the past: recorded costs never change", field="effective_time"
            )
        with duplicates_as_conflict(PRICE_EXISTS, "effective_time"):
            async with self._db.transaction() as session:
                repository = ModelRepository(session)
                model = await _model_for_pricing(repository, principal, new.model_id)
                previous = (await repository.prices_at([model.id], effective_from)).get(model.id)
                currency = check_currency(
                    new.currency or (previous.currency if previous else DEFAULT_CURRENCY)
                )
                if previous is not None and not new.force:
                    for field, value, before in (
                        (
                            "input_price_per_1k_tokens_micros",
                            new.input_micros_per_1k,
                            previous.input_micros_per_1k,
                        ),
                        (
                            "output_price_per_1k_tokens_micros",
                            new.output_micros_per_1k,
                            previous.output_micros_per_1k,
                        ),
                    ):
                        if _is_jump(value, before):
                            raise BadInput(
                                f"{field} is more than {MAX_JUMP}x the previous price {before}; "
                                "set force to accept it",
                                field=field,
                                reason=PRICE_JUMP,
                            )
                if await repository.price_effective_at_exactly(model.id, effective_from) is not None:
                    raise Conflict(PRICE_EXISTS, field="effective_time")
                price = await repository.add_price(
                    ModelPrice(
                        model_id=model.id,
                        input_micros_per_1k=new.input_micros_per_1k,
                        output_micros_per_1k=new.output_micros_per_1k,
                        currency=currency,
                        effective_from=effective_from,
                    )
                )
                details = {
                    "input_micros_per_1k": price.input_micros_per_1k,
                    "output_micros_per_1k": price.output_micros_per_1k,
                    "currency": currency,
                    "effective_from": effective_from.isoformat(),
                    "forced": new.force,
                }
                if model.tenant_id is not None:
                    await record_audit(
                        session,
                        service=SERVICE,
                        action=AuditAction.MODEL_PRICE_CHANGED,
                        tenant_id=model.tenant_id,
                        resource_type="model",
                        resource_id=model.id,
                        details=details,
                    )
                else:  # the audit log is per tenant; a platform price change is the operator's, logged here
                    log.info("platform model price changed", model_id=model.id, **details)
        await self._catalog.invalidate()
        return price

    async def history(self, model_id: str, *, offset: int, limit: int) -> tuple[list[ModelPrice], int]:
        """A page of the model's prices, newest first, and how many there are."""
        principal = require_principal()
        async with self._db.session() as session:
            repository = ModelRepository(session)
            model = await _readable_model(repository, principal, model_id)
            rows = await repository.price_history(model.id, offset=offset, limit=limit)
            return list(rows), await repository.count_prices(model.id)

    async def effective(
        self, model_id: str, at: datetime | None, override_micros: int | None
    ) -> EffectivePrice:
        """The price in force at `at` (default now); a workspace's cost override replaces both sides."""
        principal = require_principal()
        entry = await self._catalog.entry(_required(model_id))
        if entry is None:
            raise NotFound(MODEL_NOT_FOUND)
        _readable(principal, entry.row)
        price = entry.price_at(at or utcnow())
        currency = price.currency if price is not None else DEFAULT_CURRENCY
        if override_micros is not None:
            return EffectivePrice(override_micros, override_micros, currency, overridden=True)
        if price is None:
            raise NotFound("the model has no price in force at that time", field="time")
        return EffectivePrice(
            price.input_micros_per_1k, price.output_micros_per_1k, currency, overridden=False
        )


async def _readable_model(repository: ModelRepository, principal: Principal, model_id: str) -> ModelCatalog:
    return _readable(principal, await repository.any_model(_required(model_id)))


def _required(model_id: str) -> str:
    if not model_id.strip():
        raise BadInput("model_id is required", field="model_id")
    return model_id.strip()


def _readable(principal: Principal, row: ModelCatalog | None) -> ModelCatalog:
    """The model when the caller may see it: any model for the platform itself, else the tenant's view."""
    readable = row if principal.is_service else visible_to(row, principal.tenant_id)
    if readable is None:
        raise NotFound(MODEL_NOT_FOUND)
    return readable


async def _model_for_pricing(
    repository: ModelRepository, principal: Principal, model_id: str
) -> ModelCatalog:
    model = await _readable_model(repository, principal, model_id)
    if model.tenant_id is None and not principal.is_service:
        raise Forbidden("platform model prices are set by the platform operator")
    if model.tenant_id is not None and principal.role not in TENANT_ADMIN_ROLES:
        raise Forbidden("only the tenant's owners and admins set the prices of its models")
    return model
