"""The async SQLAlchemy engine every service uses: SQLite (embedded mode) or PostgreSQL via psycopg 3."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from services.runtime.sqlite_inline import InlineCoreConnection, inline_connector, inline_sync_engine
from services.runtime.sqlite_prepared import PreparedStatements
from services.runtime.wal_checkpoint import WalCheckpointer
from services.runtime.writer_lock import WriterLock

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option `transaction()` sets: its SQLite transactions take the write lock at BEGIN.
_SQLITE_BEGIN = "geko_sqlite_begin"
# `Connection.info` key of the callbacks `after_commit` queued in a `core_transaction()`.
_AFTER_COMMIT = "geko_after_commit"


def after_commit(connection: AsyncConnection, callback: Callable[[], None]) -> None:
    """Calls `callback` once the `Database.core_transaction()` of `connection` has committed, never if it
    rolls back (what SQLAlchemy's `after_commit` event is for a session; a bare connection has none)."""
    connection.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Per-connection SQLite settings: WAL for concurrent readers, enforced foreign keys, wait instead of
    failing on a locked file, and NORMAL sync (durable enough in WAL, ~4x faster commits than FULL)."""
    # The driver's own transaction handling starts a transaction only before a write, so a read-then-write
    # block reads outside any transaction (lost updates). We issue BEGIN ourselves instead (`_sqlite_begin`).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """BEGIN for reads; BEGIN IMMEDIATE inside `Database.transaction()`, so two read-modify-write blocks
    queue on the write lock (busy_timeout) instead of interleaving or failing with "database is locked"."""
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


def create_engine_for_url(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False
) -> AsyncEngine:
    """An engine for `sqlite+aiosqlite://` or `postgresql+psycopg://` URLs (anything else is refused)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, async_creator=inline_connector(parsed.database or ":memory:")
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername == "postgresql+psycopg":
        return create_async_engine(
            url,
            echo=echo,
            # A restarted database or a dropped idle connection costs one retry, not an error.
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=1800,
        )
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite+aiosqlite:// or postgresql+psycopg://"
    )


def _inline_writer_engine(url: str) -> Engine | None:
    """The synchronous engine `core_transaction()` runs on for a SQLite file (an in-memory database is one
    per connection, so it keeps the async engine's)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    engine = inline_sync_engine(database)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", _no_autocheckpoint)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _no_autocheckpoint(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """The inline writers' commits never checkpoint the WAL: `WalCheckpointer` does, off the loop."""
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _sqlite_begin_immediate(connection: Connection) -> None:
    """`_sqlite_begin` for the inline writers: always with the write lock, straight to the driver (a statement
    through SQLAlchemy's execution costs ~15 µs more, on every transaction)."""
    connection.connection.dbapi_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


def _take_after_commit(info: dict[Any, Any]) -> list[Callable[[], None]]:
    """The callbacks `after_commit` queued; `info` lives as long as the pooled connection, so nothing may stay
    there for its next transaction."""
    callbacks: list[Callable[[], None]] = info.pop(_AFTER_COMMIT, [])
    return callbacks


class Database:
    """One engine plus a session factory. Build one per process and share it between the services it hosts."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine = create_engine_for_url(url, pool_size=pool_size, max_overflow=max_overflow, echo=echo)
        # Objects stay readable after commit, so a service can return what it just wrote without a reload.
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue here (writer_lock.py) instead of in
        # SQLite's busy handler, which polls with sleeps of up to 100 ms and made every contended write of
        # the embedded mode cost tens of milliseconds. Other processes still meet busy_timeout.
        self._sqlite_writer = WriterLock() if self.dialect == "sqlite" else None
        # Core writers' engine on a SQLite file: synchronous, its transactions begin with the write lock.
        self._inline_engine = _inline_writer_engine(url) if self._sqlite_writer is not None else None
        # Its WAL checkpoints run in a worker thread, not in a commit on the loop (wal_checkpoint.py).
        self._checkpointer = (
            WalCheckpointer(str(make_url(url).database)) if self._inline_engine is not None else None
        )
        # Its one connection, opened at the first write and kept: the writer lock lets one transaction use it
        # at a time, and a pool checkout and return per transaction cost ~30 µs.
        self._inline_connection: Connection | None = None
        # The compiled forms of the statements its writers run `prepared()` (sqlite_prepared.py).
        self._prepared = PreparedStatements()

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`, for the few queries that differ (e.g. upserts)."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads or for callers that manage their own transaction."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed when the block ends, rolled back if it raises."""
        if self._sqlite_writer is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._sqlite_writer, self._sessions() as session, session.begin():
            await session.connection(execution_options={_SQLITE_BEGIN: "IMMEDIATE"})
            yield session

    @asynccontextmanager
    async def core_transaction(self) -> AsyncIterator[AsyncConnection]:
        """`transaction()` for writers of Core statements only, on a bare connection: no ORM session to set up
        and tear down (~0.18 ms of CPU less per transaction on SQLite). ORM objects need `transaction()`
        (outbox rows have `add_outbox_row`). Callbacks queued with `after_commit` run once it committed."""
        if self._inline_engine is None:
            async with self._sqlite_writer or nullcontext(), self.engine.connect() as connection:
                try:
                    async with connection.begin():
                        yield connection
                finally:
                    callbacks = _take_after_commit(connection.info)
        else:
            async with self._sqlite_writer or nullcontext():
                if self._inline_connection is None or self._inline_connection.closed:
                    self._inline_connection = self._inline_engine.connect()
                sync_connection = self._inline_connection
                try:
                    with sync_connection.begin():
                        yield InlineCoreConnection(self.engine, sync_connection, self._prepared)
                finally:
                    callbacks = _take_after_commit(sync_connection.info)
                if self._checkpointer is not None:
                    self._checkpointer.note_write()
        for callback in callbacks:
            callback()

    async def ping(self) -> None:
        """Raises when the database cannot answer `SELECT 1` (used by /health)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Closes every pooled connection; call once on shutdown."""
        if self._checkpointer is not None:
            await self._checkpointer.aclose()
        await self.engine.dispose()
        if self._inline_connection is not None:
            self._inline_connection.close()
            self._inline_connection = None
        if self._inline_engine is not None:
            self._inline_engine.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
