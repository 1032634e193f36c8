"""Checkpoints of the embedded SQLite file's write-ahead log, off the event loop.

SQLite checkpoints the WAL itself once it holds 1000 pages, inside the commit that crossed the mark: that
commit copies the pages into the database file and syncs it, on the loop's thread. Under chat load (~25
pages a turn) that was a 5-25 ms stall of every turn in flight a few times a second. The inline writers'
connection turns that off (`wal_autocheckpoint=0`) and this checkpoints instead: PASSIVE (it never waits for
or blocks a writer), every `INTERVAL_SECONDS` while there were writes, on a connection of its own in a worker
thread, where SQLite's C code runs without the GIL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import suppress

from services.runtime.logging import get_logger

log = get_logger(__name__)

INTERVAL_SECONDS = 0.5


class WalCheckpointer:
    def __init__(self, database: str) -> None:
        self._database = database
        self._written = False
        self._task: asyncio.Task[None] | None = None
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # a checkpoint under way in a worker thread, or the close

    def note_write(self) -> None:
        """A transaction of the inline writers committed: the next round checkpoints (starts the rounds)."""
        self._written = True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="geko-wal-checkpoint")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(INTERVAL_SECONDS)
            if not self._written:
                continue
            self._written = False
            try:
                await loop.run_in_executor(None, self._checkpoint)
            except sqlite3.Error as error:  # busy or gone: the next round tries again
                log.warning("sqlite_checkpoint_failed", error=str(error))

    def _checkpoint(self) -> None:
        with self._lock:
            if self._connection is None:
                self._connection = sqlite3.connect(self._database, check_same_thread=False)
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()

    async def aclose(self) -> None:
        """Stops the rounds (the last connection to close checkpoints what is left: SQLite does that)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            # In a worker too: it waits for a checkpoint under way there.
            await asyncio.get_running_loop().run_in_executor(None, self._close)
