"""aiosqlite's connection API, run on the event loop's own thread.

aiosqlite hands every statement to a worker thread and back (a queue, a thread wake-up, a future resolved
through `call_soon_threadsafe`, and the GIL changing hands twice): far more CPU than SQLite needs to answer a
primary-key read or an INSERT in WAL mode (../shared/STACK.md measured INSERT+COMMIT on the loop at ~35 µs).
So the embedded mode runs SQLite inline. What that trades: a statement blocks the loop while it runs — fine
for the short statements of this schema; writers of this process never wait on SQLite's lock because
`Database.transaction()` queues them first, so only another process writing the same file (a CLI command) can
make one wait, for as long as its write lasts.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import Connection, Engine, Executable, ScalarResult, create_engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.sqlite_prepared import PreparedStatements

T = TypeVar("T")


class _Inline:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once and settles its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # the awaiting caller gets it, as from the thread
            if future is not None:
                future.set_exception(error)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` whose calls run where they are awaited, without a worker thread (SQLAlchemy's
    adapter also talks to the queue directly, so the queue is what is replaced)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _Inline()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # type: ignore[return-value]

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def inline_connector(database: str) -> Callable[..., Awaitable[InlineConnection]]:
    """An `async_creator` for `create_async_engine`: inline connections to the SQLite file `database`."""

    async def create(*_: Any, **__: Any) -> InlineConnection:
        return await InlineConnection(lambda: _connect(database), 64)

    return create


class InlineCoreConnection(AsyncConnection):
    """An `AsyncConnection` over a synchronous pysqlite `Connection`, for `Database.core_transaction()`.

    Even inline, an awaited statement on the aiosqlite adapter crosses a greenlet, the adapter's cursor and
    aiosqlite's coroutines: ~180 µs of CPU for a short statement against ~60 µs run synchronously, and ~245
    against ~80 µs for an empty transaction. SQLite answers on this thread anyway, so the Core writers'
    statements run synchronously where they are awaited: the same SQLAlchemy statements, dialect and
    processing, without the asyncio adaptation, and a statement marked `prepared()` from its compiled SQL
    (sqlite_prepared.py). Only what core_transaction's users call is adapted."""

    def __init__(
        self, async_engine: AsyncEngine, sync_connection: Connection, prepared: PreparedStatements
    ) -> None:
        super().__init__(async_engine, sync_connection)
        self._prepared_connection = PreparedConnection(sync_connection, prepared)

    async def execute(
        self,
        statement: Executable,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> Any:  # a CursorResult, or a PreparedResult answering the same calls
        return self._prepared_connection.execute(statement, parameters, execution_options=execution_options)

    async def scalar(
        self, statement: Executable, parameters: Any = None, *, execution_options: Any = None
    ) -> Any:
        return self._prepared_connection.scalar(statement, parameters, execution_options=execution_options)

    async def scalars(
        self, statement: Executable, parameters: Any = None, *, execution_options: Any = None
    ) -> ScalarResult[Any]:
        return self._proxied.scalars(statement, parameters, execution_options=execution_options)

    async def run_sync(self, fn: Callable[..., T], *arg: Any, **kw: Any) -> T:
        return fn(self._prepared_connection, *arg, **kw)


class PreparedConnection:
    """The synchronous connection a `run_sync` body gets: a `Connection` whose `execute` and `scalar` run
    statements marked `prepared()` from their compiled SQL; everything else is the connection's own."""

    __slots__ = ("_connection", "_prepared")

    def __init__(self, connection: Connection, prepared: PreparedStatements) -> None:
        self._connection = connection
        self._prepared = prepared

    def execute(self, statement: Executable, parameters: Any = None, *, execution_options: Any = None) -> Any:
        if execution_options is not None:
            return self._connection.execute(statement, parameters, execution_options=execution_options)
        return self._prepared.run(self._connection, statement, parameters)

    def scalar(self, statement: Executable, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return self.execute(statement, parameters, execution_options=execution_options).scalar()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def inline_sync_engine(database: str) -> Engine:
    """A synchronous engine on the SQLite file `database`, for `InlineCoreConnection`s (its connections are
    only ever used on the event loop's thread)."""
    return create_engine("sqlite://", creator=lambda: _connect(database))


def _connect(database: str) -> sqlite3.Connection:
    """A driver connection to `database`, usable from the loop's thread whichever thread opened it."""
    return sqlite3.connect(database, check_same_thread=False)
