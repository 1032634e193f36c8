"""The CHAT_COMPLETED audit rows of settled turns, committed a batch at a time.

One outbox row in a transaction of its own cost ~1.2 ms of CPU on SQLite (session, ORM flush, commit), about
as much as the rest of the chat service's own work per turn; eight rows in one transaction cost ~0.2 ms each,
and wake the audit relay once instead of eight times. So a turn stages its row at once — in its own task, so
`record_audit` takes the caller's request id, address and user agent from the turn's context — and the rows
staged within `BATCH_SECONDS` are inserted together, by one Core statement in a `core_transaction()`: on the
embedded SQLite that runs inline, holding the write lock for no loop round (an ORM session on aiosqlite
held it for a dozen, while every turn's reservation and commit queued behind it). The turn waits for that
commit, so a failed write is still logged as its own. Nothing a client sees waits for it: the terminal event
went out before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.events.outbox import OutboxStage
from services.runtime.database import Database

# How long the first row of a batch waits for others (an audit entry appears this much later).
BATCH_SECONDS = 0.1


@dataclass(eq=False)
class _Batch:
    staged: OutboxStage = field(default_factory=OutboxStage)
    written: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AuditBatcher:
    """Audit rows of one process's turns, written `BATCH_SECONDS` after the first of a batch was staged."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._batch: _Batch | None = None
        self._writers: set[asyncio.Task[None]] = set()

    async def record(self, stage: Callable[[OutboxStage], Awaitable[object]]) -> None:
        """Runs `stage` (a `record_audit` call: it only adds rows, no I/O) now, in the caller's task, on the
        batch's stage, and returns once the batch is committed; raises what its commit raised."""
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            writer = asyncio.create_task(self._write_after(BATCH_SECONDS), name="geko-chat-audit")
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        await stage(batch.staged)
        await asyncio.shield(batch.written)

    async def _write_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            if batch.staged.rows:
                async with self._database.core_transaction() as connection:
                    await batch.staged.insert(connection)
        except Exception as error:
            batch.written.set_exception(error)
            batch.written.exception()  # retrieved: each waiting turn logs it, none may be waiting any more
        else:
            batch.written.set_result(None)

    async def aclose(self) -> None:
        """Waits for the batch being staged (a stopping process keeps its turns' audit entries)."""
        if self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
