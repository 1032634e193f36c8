"""The ledger's SQL, built once per dialect: Core statements over the billing tables with named bind
parameters. A reserve or a commit then pays neither statement construction nor the ORM's flush and refresh:
SQLAlchemy finds each one's compiled form in its cache, and quota rows come back through RETURNING (SQLite
>= 3.35, PostgreSQL). Rare paths (a month's reset, a plan change) build their statement where they run.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db.models.base import UTCDateTime
from db.models.billing import UNLIMITED, CostTracking, Quota, Reservation, TokenUsage
from services.runtime.sqlite_prepared import prepared

QUOTAS: Table = Quota.__table__  # type: ignore[assignment]
RESERVATIONS: Table = Reservation.__table__  # type: ignore[assignment]
USAGE: Table = TokenUsage.__table__  # type: ignore[assignment]
COSTS: Table = CostTracking.__table__  # type: ignore[assignment]

# The columns of a quota row every statement returns, in the order of `QuotaState`'s fields (ledger.py).
QUOTA_COLUMNS = (
    QUOTAS.c.id,
    QUOTAS.c.tenant_id,
    QUOTAS.c.workspace_id,
    QUOTAS.c.plan,
    QUOTAS.c.tokens_limit,
    QUOTAS.c.tokens_used,
    QUOTAS.c.tokens_reserved,
    QUOTAS.c.requests_limit,
    QUOTAS.c.requests_used,
    QUOTAS.c.reset_at,
)


def _within(
    used: ColumnElement[int], limit: ColumnElement[int], amount: ColumnElement[int] | int
) -> ColumnElement[bool]:
    return or_(limit == UNLIMITED, used + amount <= limit)


def _expired(workspace_id: ColumnElement[str]) -> tuple[ColumnElement[bool], ...]:
    return (
        RESERVATIONS.c.workspace_id == workspace_id,
        RESERVATIONS.c.status == "held",
        RESERVATIONS.c.expires_at <= bindparam("now", type_=UTCDateTime()),
    )


@dataclass(frozen=True, slots=True)
class Statements:
    """Parameters: `:workspace`, `:quota_id`, `:reservation` and `:tenant` pick rows; `:tokens`, `:requests`,
    `:held`, `:new_status` and `:now` are what changes (an UPDATE's bind parameters may not be named after
    columns); an INSERT takes its row's columns by name."""

    # The workspace's quota row, locked (PostgreSQL; SQLite holds the write lock), and whether it has held
    # reservations expired at :now. On PostgreSQL that flag may be from before the lock was granted, which
    # can only err towards true (a hold leaves that state once, and nothing enters it): the `expired` read
    # after it is exact.
    lock_quota: Select[Any]
    lock_quota_unless_locked: Select[Any]  # the same, None while another transaction holds it
    insert_quota: Insert  # a new row, unless one appeared meanwhile
    hold: Update  # :tokens and one request reserved: no row when a limit would be passed
    give_back: Update  # :tokens reserved and :requests used returned
    settle: Update  # a commit's counts: :tokens used, :held tokens no longer reserved, :requests used
    expired: Select[Any]  # the workspace's held reservations past their expiry, at :now
    expire: Update  # ... marked expired
    insert_reservation: Insert  # no row: the idempotency key has a reservation already
    reservation_by_key: Select[Any]
    reservation_owner: Select[Any]
    reservation_exists: Select[Any]
    settle_held: Update  # a held reservation of the tenant marked :new_status; its tokens and created_at
    set_status: Update  # any reservation of the tenant marked :new_status
    insert_usage: Insert  # no row: the idempotency key was settled already
    usage_by_key: Select[Any]
    track_cost: Insert  # the month's cost row of the workspace, created or added to
    model_committed: Select[Any]  # a model's committed tokens in [:start, :end)
    model_held: Select[Any]  # a model's held tokens


@cache
def statements(dialect: str) -> Statements:
    """The statements of `dialect` (`sqlite` or `postgresql`: their upserts differ), built on first use."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    by_workspace = QUOTAS.c.workspace_id == bindparam("workspace")
    tokens = bindparam("tokens", type_=BigInteger)
    requests = bindparam("requests", type_=BigInteger)
    now = bindparam("now", type_=UTCDateTime())
    has_expired = exists().where(*_expired(QUOTAS.c.workspace_id)).label("has_expired")
    lock_quota = select(*QUOTA_COLUMNS, has_expired).where(by_workspace)
    of_tenant = (
        RESERVATIONS.c.id == bindparam("reservation"),
        RESERVATIONS.c.tenant_id == bindparam("tenant"),
    )
    costs = insert(COSTS)
    built = Statements(
        lock_quota=lock_quota.with_for_update(),
        lock_quota_unless_locked=lock_quota.with_for_update(skip_locked=True),
        insert_quota=insert(QUOTAS).on_conflict_do_nothing(index_elements=["workspace_id"]),
        hold=update(QUOTAS)
        .where(
            QUOTAS.c.id == bindparam("quota_id"),
            _within(QUOTAS.c.tokens_used + QUOTAS.c.tokens_reserved, QUOTAS.c.tokens_limit, tokens),
            _within(QUOTAS.c.requests_used, QUOTAS.c.requests_limit, 1),
        )
        .values(
            tokens_reserved=QUOTAS.c.tokens_reserved + tokens,
            requests_used=QUOTAS.c.requests_used + 1,
            updated_at=now,
        )
        .returning(*QUOTA_COLUMNS),
        give_back=update(QUOTAS)
        .where(by_workspace)
        .values(
            tokens_reserved=QUOTAS.c.tokens_reserved - tokens,
            requests_used=QUOTAS.c.requests_used - requests,
        )
        .returning(*QUOTA_COLUMNS),
        settle=update(QUOTAS)
        .where(QUOTAS.c.id == bindparam("quota_id"))
        .values(
            tokens_reserved=QUOTAS.c.tokens_reserved - bindparam("held", type_=BigInteger),
            tokens_used=QUOTAS.c.tokens_used + tokens,
            requests_used=QUOTAS.c.requests_used + requests,
            updated_at=now,
        )
        .returning(*QUOTA_COLUMNS),
        expired=select(RESERVATIONS.c.tokens, RESERVATIONS.c.created_at).where(
            *_expired(bindparam("workspace"))
        ),
        expire=update(RESERVATIONS).where(*_expired(bindparam("workspace"))).values(status="expired"),
        insert_reservation=insert(RESERVATIONS)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(RESERVATIONS.c.id),
        reservation_by_key=select(
            RESERVATIONS.c.id,
            RESERVATIONS.c.tenant_id,
            RESERVATIONS.c.workspace_id,
            RESERVATIONS.c.tokens,
            RESERVATIONS.c.status,
            RESERVATIONS.c.expires_at,
        ).where(RESERVATIONS.c.idempotency_key == bindparam("key")),
        reservation_owner=select(RESERVATIONS.c.workspace_id, RESERVATIONS.c.user_id).where(*of_tenant),
        reservation_exists=select(RESERVATIONS.c.id).where(*of_tenant),
        settle_held=update(RESERVATIONS)
        .where(*of_tenant, RESERVATIONS.c.status == "held")
        .values(status=bindparam("new_status"))
        .returning(RESERVATIONS.c.workspace_id, RESERVATIONS.c.tokens, RESERVATIONS.c.created_at),
        set_status=update(RESERVATIONS).where(*of_tenant).values(status=bindparam("new_status")),
        insert_usage=insert(USAGE)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(USAGE.c.id),
        usage_by_key=select(USAGE).where(USAGE.c.idempotency_key == bindparam("key")),
        track_cost=costs.on_conflict_do_update(
            index_elements=["workspace_id", "month"],
            set_={
                "total_cost_micros": COSTS.c.total_cost_micros + costs.excluded.total_cost_micros,
                "updated_at": costs.excluded.updated_at,
            },
        ),
        model_committed=select(
            func.coalesce(func.sum(USAGE.c.input_tokens + USAGE.c.output_tokens), 0)
        ).where(
            USAGE.c.workspace_id == bindparam("workspace"),
            USAGE.c.model_id == bindparam("model"),
            USAGE.c.used_at >= bindparam("start", type_=UTCDateTime()),
            USAGE.c.used_at < bindparam("end", type_=UTCDateTime()),
        ),
        model_held=select(func.coalesce(func.sum(RESERVATIONS.c.tokens), 0)).where(
            RESERVATIONS.c.workspace_id == bindparam("workspace"),
            RESERVATIONS.c.model_id == bindparam("model"),
            RESERVATIONS.c.status == "held",
        ),
    )
    # Every one of them runs prepared on the embedded SQLite (services/runtime/sqlite_prepared.py).
    return Statements(**{field.name: prepared(getattr(built, field.name)) for field in fields(built)})
