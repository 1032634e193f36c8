"""The lock this process's SQLite writers queue on (SQLite has one writer at a time).

Not `asyncio.Lock`: its release wakes one waiter, which runs in the next loop round, and only its release
wakes the next. The embedded mode's Core writers run inline (sqlite_inline.py) and hold the lock for no
round at all, so behind a writer that does hold it across rounds (an ORM session on aiosqlite) they drained
at one per round: under load a queue that never emptied, which put ~40 rounds into every chat turn's
reservation. Here a release wakes every waiter; in the next round they take the lock in their order, each
inline writer finishes and passes it on in the same round, and whoever holds it across rounds sends the rest
back to waiting.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class WriterLock:
    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[asyncio.Future[None]] = []

    def locked(self) -> bool:
        return self._locked

    async def __aenter__(self) -> None:
        while self._locked:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter  # cancelled: the release skips it (every waiter wakes, so none is owed a turn)
        self._locked = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._locked = False
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
