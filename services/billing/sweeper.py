"""`ReservationSweeper`: gives back crashed turns' reservations, every `SWEEP_SECONDS`, in the process hosting
billing (the billing registration's start/stop hooks run it). Reading a workspace's quota expires its own
reservations already; the sweeper does it for the workspaces nobody reads, so their holds end on time.
Several billing processes may sweep at once: a quota row one of them has locked is skipped by the others."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from services.billing.ledger import sweep_expired
from services.runtime.database import Database
from services.runtime.logging import get_logger

SWEEP_SECONDS = 60.0

log = get_logger(__name__)


class ReservationSweeper:
    def __init__(self, database: Database, *, interval_seconds: float = SWEEP_SECONDS) -> None:
        self._database = database
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="geko-reservation-sweeper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                swept = await sweep_expired(self._database)
            except Exception:  # the database away: try again at the next interval
                log.exception("reservation_sweep_failed")
                continue
            if swept:
                log.info("reservations_expired", count=swept)
