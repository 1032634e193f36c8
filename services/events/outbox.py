"""Writing outbox rows, and waking the process's relays as soon as a transaction that wrote some commits.

Rows are delivered by `services.events.relay.OutboxRelay`; this module only adds them (in the caller's
transaction) and keeps the wake-up signal: a SQLAlchemy `after_commit` hook sets the events of the relays that
deliver the committed rows' services, so an embedded audit entry appears in milliseconds, not a poll later
(within the relay's ROUND_INTERVAL_SECONDS while rows keep coming).
A rolled-back transaction writes nothing and, at most, causes one needless wake-up.

A writer on `Database.core_transaction()` (no session) uses `add_outbox_row`: the same row, inserted at once,
and the same wake-up, queued with `after_commit`; `OutboxStage` makes rows ahead of the transaction that
inserts them.

Rows join the session as `OutboxEvent` objects, but its flush writes them with one Core INSERT and leaves
them out of the ORM's unit of work (`before_flush`), which cost several times that statement: nearly every
write of the platform adds one. They are written when the session flushes, as before (at the latest when it
commits), and go back to being plain objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from db.models.outbox import OutboxEvent
from services.runtime.clock import utcnow
from services.runtime.database import after_commit
from services.runtime.ids import new_id
from services.runtime.settings import SERVICES
from services.runtime.sqlite_prepared import prepared

_PENDING_KEY = "geko_outbox_services"
OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_INSERT = prepared(insert(OUTBOX))


def _new_row(service: str, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The column values of one undelivered row for `service` (one of SERVICES)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    now = utcnow()
    return {
        "id": new_id(),
        "service": service,
        "topic": topic,
        "payload": payload,
        "available_at": now,
        "delivered_at": None,
        "attempts": 0,
        "last_error": None,
        "created_at": now,
    }


def add_outbox_event(session: AsyncSession, *, service: str, topic: str, payload: dict[str, Any]) -> str:
    """Adds one undelivered row for `service` (one of SERVICES) to the caller's transaction; its id."""
    row = OutboxEvent(**_new_row(service, topic, payload))
    session.add(row)
    session.info.setdefault(_PENDING_KEY, set()).add(service)
    return row.id


async def add_outbox_row(
    connection: AsyncConnection, *, service: str, topic: str, payload: dict[str, Any]
) -> str:
    """`add_outbox_event` in a `Database.core_transaction()`: the row is inserted now; its id."""
    row = _new_row(service, topic, payload)
    await _insert_rows(connection, [row])
    return str(row["id"])


async def _insert_rows(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Inserts `rows` (one statement) in `connection`'s `core_transaction()`; their relays wake once it
    committed."""
    await connection.execute(_INSERT, rows[0] if len(rows) == 1 else rows)  # one row: no executemany
    after_commit(connection, partial(_wake, frozenset(row["service"] for row in rows)))


class OutboxStage:
    """Outbox rows made now, outside any transaction, and inserted later in one `core_transaction()` with
    others (a batch of them: see services/chat/audit.py)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, *, service: str, topic: str, payload: dict[str, Any]) -> str:
        row = _new_row(service, topic, payload)
        self.rows.append(row)
        return str(row["id"])

    async def insert(self, connection: AsyncConnection) -> None:
        """Inserts the staged rows in `connection`'s `core_transaction()` (`add_outbox_row`'s insert)."""
        if self.rows:
            await _insert_rows(connection, self.rows)


@dataclass(eq=False)
class Waiter:
    """One relay's wake-up event, bound to the loop it waits in (commits may happen on another loop)."""

    services: frozenset[str]
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.event.set()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.event.set)


_waiters: set[Waiter] = set()


def register_waiter(services: Iterable[str]) -> Waiter:
    """A wake-up event for rows of `services`, set after every commit that added some; call in the loop
    that will wait on it, and `unregister_waiter` when done."""
    waiter = Waiter(frozenset(services), asyncio.get_running_loop())
    _waiters.add(waiter)
    return waiter


def unregister_waiter(waiter: Waiter) -> None:
    _waiters.discard(waiter)


@event.listens_for(Session, "before_flush")
def _write_rows(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    rows = [entity for entity in session.new if isinstance(entity, OutboxEvent)]
    if not rows:
        return
    for row in rows:
        session.expunge(row)
    session.connection().execute(
        _INSERT, [{column.key: getattr(row, column.key) for column in OUTBOX.columns} for row in rows]
    )


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    services = session.info.pop(_PENDING_KEY, None)
    if services:
        _wake(services)


def _wake(services: Set[str]) -> None:
    """Wakes the relays that deliver rows of any of `services`."""
    for waiter in list(_waiters):
        if waiter.services & services:
            waiter.wake()


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
