"""All SQL of the audit service. Reads are scoped by tenant (and workspace); nothing here decides who may
read. There is no update or delete: the log is append-only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, and_, bindparam, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models.audit import AuditLog
from services.runtime.sqlite_prepared import prepared

# First key of the PostgreSQL advisory locks that serialise appends to one tenant's chain (ASCII "AU").
CHAIN_LOCK_CLASS = 0x4155

# Appends run on every delivered event: their statements are built once (building one costs more than
# running it on SQLite, where the hot ones run `prepared()`) and rows go in as one Core INSERT, not through
# the ORM's unit of work.
AUDIT_LOGS: Table = AuditLog.__table__  # type: ignore[assignment]
_RECORDED_IDS = select(AUDIT_LOGS.c.id).where(AUDIT_LOGS.c.id.in_(bindparam("ids", expanding=True)))
_HEAD = prepared(
    select(AUDIT_LOGS.c.seq, AUDIT_LOGS.c.hash)
    .where(AUDIT_LOGS.c.tenant_id == bindparam("tenant_id"))
    .order_by(AUDIT_LOGS.c.seq.desc())
    .limit(1)
)
_INSERT = prepared(insert(AUDIT_LOGS))
_LOCK_CHAINS = text(
    "SELECT pg_advisory_xact_lock(:lock_class, lock_key) FROM ("
    " SELECT DISTINCT hashtext(tenant_id) AS lock_key"
    " FROM unnest(CAST(:tenant_ids AS text[])) AS tenant_id ORDER BY lock_key"
    ") AS lock_keys"
)

# The columns of an export row, in CSV order (services/audit/export.py names them).
EXPORT_COLUMNS = (
    AuditLog.id,
    AuditLog.created_at,
    AuditLog.actor_user_id,
    AuditLog.action,
    AuditLog.resource_type,
    AuditLog.resource_id,
    AuditLog.workspace_id,
    AuditLog.ip,
    AuditLog.user_agent,
    AuditLog.request_id,
    AuditLog.details,
)

# A row of EXPORT_COLUMNS.
ExportRow = Row[*tuple[Any, ...]]
# Where a newest-first page continues: strictly older than this (created_at, id).
Cursor = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries a list or export reads: one workspace of one tenant, plus optional filters."""

    tenant_id: str
    workspace_id: str
    actor_user_id: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = [AuditLog.tenant_id == self.tenant_id, AuditLog.workspace_id == self.workspace_id]
        if self.actor_user_id is not None:
            conditions.append(AuditLog.actor_user_id == self.actor_user_id)
        if self.action is not None:
            conditions.append(AuditLog.action == self.action)
        if self.resource_type is not None:
            conditions.append(AuditLog.resource_type == self.resource_type)
        if self.resource_id is not None:
            conditions.append(AuditLog.resource_id == self.resource_id)
        if self.start is not None:
            conditions.append(AuditLog.created_at >= self.start)
        if self.end is not None:
            conditions.append(AuditLog.created_at < self.end)
        return conditions


# Newest first, with the id breaking ties between entries of the same microsecond.
NEWEST_FIRST = (AuditLog.created_at.desc(), AuditLog.id.desc())


def _older_than(after: Cursor | None) -> list[ColumnElement[bool]]:
    """The condition of a newest-first page that continues strictly after `after`."""
    if after is None:
        return []
    created_at, event_id = after
    return [
        or_(
            AuditLog.created_at < created_at,
            and_(AuditLog.created_at == created_at, AuditLog.id < event_id),
        )
    ]


class ChainAppender:
    """The statements of an append, on a `Database.core_transaction()` connection: rows go in as dicts of
    column values, never as ORM objects (their instrumentation cost more than the rest of an append)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def existing_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` are recorded already (in any tenant: an id names one entry)."""
        result = await self.connection.execute(_RECORDED_IDS, {"ids": list(event_ids)})
        return {str(event_id) for event_id in result.scalars()}

    async def lock_chains(self, tenant_ids: Sequence[str]) -> None:
        """Holds the tenants' chains until the transaction ends (PostgreSQL; SQLite has one writer). The
        locks are taken in one order, by key, so that two batches sharing tenants cannot deadlock."""
        await self.connection.execute(
            _LOCK_CHAINS, {"lock_class": CHAIN_LOCK_CLASS, "tenant_ids": list(tenant_ids)}
        )

    async def head(self, tenant_id: str) -> tuple[int, str] | None:
        """The tenant's newest entry's (seq, hash), or None before its first entry."""
        row = (await self.connection.execute(_HEAD, {"tenant_id": tenant_id})).first()
        return None if row is None else (int(row[0]), str(row[1]))

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Inserts complete entries, each a value for every column of audit_logs; a taken (tenant_id, seq)
        or id fails here, inside the transaction."""
        if rows:
            await self.connection.execute(_INSERT, list(rows))


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---- reading ----

    async def cursor_of(self, *, tenant_id: str, event_id: str) -> Cursor | None:
        """The position of an entry of the tenant, for continuing after it; None when there is none."""
        query = select(AuditLog.created_at).where(AuditLog.id == event_id, AuditLog.tenant_id == tenant_id)
        created_at = (await self.session.execute(query)).scalar_one_or_none()
        return None if created_at is None else (created_at, event_id)

    async def page(self, query: AuditQuery, *, after: Cursor | None, limit: int) -> Sequence[AuditLog]:
        """Entries matching `query`, newest first, older than `after`."""
        statement = (
            select(AuditLog)
            .where(*query.conditions(), *_older_than(after))
            .order_by(*NEWEST_FIRST)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def count(self, query: AuditQuery) -> int:
        statement = select(func.count()).select_from(AuditLog).where(*query.conditions())
        return int((await self.session.execute(statement)).scalar_one())

    async def export_rows(
        self, query: AuditQuery, *, after: Cursor | None, limit: int
    ) -> Sequence[ExportRow]:
        """Plain rows of EXPORT_COLUMNS (no ORM objects: an export reads many), newest first."""
        statement = (
            select(*EXPORT_COLUMNS)
            .where(*query.conditions(), *_older_than(after))
            .order_by(*NEWEST_FIRST)
            .limit(limit)
        )
        return (await self.session.execute(statement)).all()

    # ---- the chain ----

    async def chain_page(self, tenant_id: str, *, after_seq: int, limit: int) -> Sequence[AuditLog]:
        """The tenant's entries in chain order after `after_seq`."""
        statement = (
            select(AuditLog)
            .where(AuditLog.tenant_id == tenant_id, AuditLog.seq > after_seq)
            .order_by(AuditLog.seq)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def tenant_ids(self) -> list[str]:
        """Every tenant with at least one entry."""
        statement = select(AuditLog.tenant_id).distinct().order_by(AuditLog.tenant_id)
        return [str(tenant_id) for tenant_id in (await self.session.execute(statement)).scalars()]
