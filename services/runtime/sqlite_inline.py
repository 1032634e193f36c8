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
from typing import Any

import aiosqlite


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
        return await InlineConnection(lambda: sqlite3.connect(database, check_same_thread=False), 64)

    return create
