"""`OutboxRelay`: delivers a process's outbox rows to their recipients, at least once and never lost.

Each round claims the rows that are due (one UPDATE … RETURNING that leases them: `available_at` moves a
lease ahead; PostgreSQL picks them with `FOR UPDATE SKIP LOCKED`, so relays in several processes never take
the same row), delivers them without holding any lock (in the embedded mode the recipient writes to the same
SQLite file), then marks each delivered or failed (one UPDATE when all went through). Its statements are Core
ones on `Database.core_transaction()`: a round pays for no ORM session. A round that claimed less than a
full batch took every due row, so the drain ends there without another claim. A failed row is retried with
exponential backoff (capped at `MAX_BACKOFF`); a row whose lease ran out (its relay died mid-delivery) is
claimed again. Recipients are idempotent (audit by the row's id, billing by the commit's
idempotency key), so a second delivery records nothing new. Delivered rows are pruned after `RETENTION`.

Each topic has one sender in the relay's dispatch table, all authenticated with the platform's service token:
"audit" → `AuditService.BatchRecord` (the claimed rows in one call, one transaction), "usage" →
`BillingService.CommitUsage` (row by row). Rows are delivered in order per topic; a batch refused for one of
its rows is sent again row by row, so that only that row fails (and backs off); a recipient that is down holds
back its own topic's rows, not the others'.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update

from geko.audit.v1 import audit_pb2, audit_pb2_grpc
from geko.billing.v1 import billing_pb2_grpc
from services.events.audit import AUDIT_TOPIC, audit_event_message
from services.events.outbox import OUTBOX, Waiter, register_waiter, unregister_waiter
from services.events.usage import USAGE_TOPIC, usage_commit_request
from services.runtime.clients import Channels
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.errors import ErrorCode, GekoError
from services.runtime.logging import get_logger
from services.runtime.service_identity import service_metadata
from services.runtime.settings import Settings

BATCH_SIZE = 100
# How long a claimed row stays with its relay before another may take it (a relay that died mid-batch).
LEASE = timedelta(minutes=2)
FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(minutes=5)
MAX_ERROR_LENGTH = 1000
# Delivered rows are kept this long (to answer "was it sent?"), then pruned, at most once per interval.
RETENTION = timedelta(days=7)
PRUNE_INTERVAL = timedelta(hours=1)
# Failures caused by the row itself: the next rows may still go through. Any other failure (the recipient
# down, refusing our identity, timing out) would fail them all, so the batch stops and waits.
ROW_ERRORS = frozenset({ErrorCode.BAD_USER_INPUT, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT})

# Without a wake-up the relay still looks every this often: for rows another process wrote for the services
# it delivers, and leases of a relay that died. Its own failed rows wake it when their backoff ends.
SAFETY_POLL_SECONDS = 5.0
# Rounds of the running relay start at most this often: a row committed after a quiet spell goes at once,
# rows committed while rounds keep coming wait for the next one (at most this long) and share its
# transactions and BatchRecord call — a round costs about the same for one row as for a hundred.
ROUND_INTERVAL_SECONDS = 0.25

log = get_logger(__name__)


def _claim_statement(outbox: Table, *, skip_locked: bool) -> Any:
    """Leases up to BATCH_SIZE due rows of the given services and topics, in id order, and returns them."""
    due = (
        select(outbox.c.id)
        .where(
            outbox.c.service.in_(bindparam("services", expanding=True)),
            outbox.c.topic.in_(bindparam("topics", expanding=True)),
            outbox.c.delivered_at.is_(None),
            outbox.c.available_at <= bindparam("now"),
        )
        .order_by(outbox.c.id)
        .limit(BATCH_SIZE)
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    return (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(available_at=bindparam("lease_until"))
        .returning(outbox.c.id, outbox.c.topic, outbox.c.payload, outbox.c.attempts)
    )


# Built once per dialect (building a statement costs more than running it on SQLite).
_CLAIM = {
    "sqlite": _claim_statement(OUTBOX, skip_locked=False),
    "postgresql": _claim_statement(OUTBOX, skip_locked=True),
}
_MARK_DELIVERED = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(delivered_at=bindparam("delivered_at"), last_error=None)
)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: str
    topic: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class _Sender:
    """How a topic's rows reach their recipient: `send` delivers up to `batch_size` rows in one call, all or
    none (it raises when the call failed)."""

    send: Callable[[Sequence[_Claimed]], Awaitable[None]]
    batch_size: int


@dataclass(slots=True)
class _Failure:
    """A row that failed, and — when its recipient is down — the rows of its topic not tried after it."""

    row: _Claimed
    error: str
    postponed: list[_Claimed]


def backoff(attempts: int) -> timedelta:
    """The wait before the next try of a row that failed `attempts` times: 1 s, 2 s, 4 s … at most 5 min."""
    return min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF) if attempts < 32 else MAX_BACKOFF


class OutboxRelay:
    """Delivers the outbox rows of `services` (those hosted by this process) until stopped.

    `start()` runs it in the background: it drains at once, then whenever a commit adds rows of its services
    (services.events.outbox wakes it), when the backoff of a row it failed ends, and every `poll_seconds`
    (rows written by another process, leases that ran out); rounds at most every ROUND_INTERVAL_SECONDS.
    """

    def __init__(
        self,
        database: Database,
        channels: Channels,
        settings: Settings,
        services: Sequence[str],
        *,
        poll_seconds: float = SAFETY_POLL_SECONDS,
    ) -> None:
        self._database = database
        self._channels = channels
        self._settings = settings
        self._services = tuple(services)
        self._poll_seconds = poll_seconds
        self._metadata = service_metadata(settings)
        self._senders: dict[str, _Sender] = {
            AUDIT_TOPIC: _Sender(self._record_audit, BATCH_SIZE),
            USAGE_TOPIC: _Sender(self._commit_usage, 1),
        }
        self._drain_lock = asyncio.Lock()
        # Ends of the backoffs this relay set (a heap): their rows are due then, whatever the poll.
        self._retry_times: list[datetime] = []
        self._waiter: Waiter | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        if self._task is not None or not self._services:
            return
        self._stopping = False
        self._waiter = register_waiter(self._services)
        self._task = asyncio.create_task(self._run(self._waiter), name="geko-outbox-relay")

    async def stop(self) -> None:
        """Stops after the delivery in flight (cut short after the call deadline); undelivered rows stay."""
        task, waiter = self._task, self._waiter
        self._task = self._waiter = None
        if task is None or waiter is None:
            return
        self._stopping = True
        waiter.event.set()
        unregister_waiter(waiter)
        try:
            await asyncio.wait_for(task, timeout=self._settings.grpc_deadline_seconds + 1)
        except TimeoutError:
            log.warning("outbox_relay_stop_timeout")

    async def drain(self) -> int:
        """Delivers every row due now; the number delivered. Rows that fail wait for their backoff."""
        delivered = 0
        async with self._drain_lock:
            now = utcnow()
            while self._retry_times and self._retry_times[0] <= now:
                heapq.heappop(self._retry_times)  # those rows are due: claimed below (failing again, pushed)
            while True:
                claimed = await self._claim()
                if not claimed:
                    return delivered
                count, interrupted = await self._deliver(claimed)
                delivered += count
                if interrupted or len(claimed) < BATCH_SIZE:
                    return delivered

    async def prune(self, *, older_than: timedelta = RETENTION) -> int:
        """Deletes this relay's rows delivered more than `older_than` ago; how many."""
        async with self._database.core_transaction() as connection:
            result = await connection.execute(
                delete(OUTBOX).where(
                    OUTBOX.c.service.in_(self._services),
                    OUTBOX.c.topic.in_(self._senders),
                    OUTBOX.c.delivered_at < utcnow() - older_than,
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _run(self, waiter: Waiter) -> None:
        pruned_at = None
        loop = asyncio.get_running_loop()
        while not self._stopping:
            waiter.event.clear()
            started = loop.time()
            try:
                await self.drain()
                if pruned_at is None or utcnow() - pruned_at >= PRUNE_INTERVAL:
                    await self.prune()
                    pruned_at = utcnow()
            except Exception:  # the database away: keep the loop, try again at the next poll
                log.exception("outbox_relay_round_failed")
            if self._stopping:
                return
            timeout = self._poll_seconds
            if self._retry_times:
                timeout = min(timeout, max((self._retry_times[0] - utcnow()).total_seconds(), 0.0))
            with suppress(TimeoutError):
                await asyncio.wait_for(waiter.event.wait(), timeout=timeout)
            # Rows keep coming (a busy chat commits one per turn): let them gather into the next round.
            pause = started + ROUND_INTERVAL_SECONDS - loop.time()
            if pause > 0 and not self._stopping:
                await asyncio.sleep(pause)

    async def _claim(self) -> list[_Claimed]:
        now = utcnow()
        parameters = {
            "services": list(self._services),
            "topics": list(self._senders),
            "now": now,
            "lease_until": now + LEASE,
        }
        async with self._database.core_transaction() as connection:
            rows = (await connection.execute(_CLAIM[self._database.dialect], parameters)).all()
        claimed = [_Claimed(row.id, row.topic, dict(row.payload), row.attempts) for row in rows]
        claimed.sort(key=lambda row: row.id)  # RETURNING keeps no order
        return claimed

    async def _deliver(self, claimed: list[_Claimed]) -> tuple[int, bool]:
        """Sends `claimed`, topic by topic in order; (how many went through, whether a recipient is down)."""
        delivered: list[str] = []
        failures: list[_Failure] = []
        down = False
        topics: dict[str, list[_Claimed]] = {}
        for row in claimed:
            topics.setdefault(row.topic, []).append(row)
        for topic, rows in topics.items():
            down |= await self._deliver_topic(self._senders[topic], rows, delivered, failures)
        await self._settle(delivered, failures)
        return len(delivered), down

    async def _deliver_topic(
        self, sender: _Sender, rows: list[_Claimed], delivered: list[str], failures: list[_Failure]
    ) -> bool:
        """Sends one topic's rows in batches of the sender's size; True when their recipient is down. A batch
        refused for a row of it is sent again row by row, so that only that row fails; a failure of the
        recipient postpones the rest of the topic's rows."""
        batches = [
            rows[start : start + sender.batch_size] for start in range(0, len(rows), sender.batch_size)
        ]
        while batches:
            batch = batches.pop(0)
            try:
                await sender.send(batch)
            except Exception as error:
                recipient_down = isinstance(error, GekoError) and error.code not in ROW_ERRORS
                if len(batch) > 1 and not recipient_down:
                    log.info("outbox_batch_refused", first_event_id=batch[0].id, size=len(batch))
                    batches[:0] = [[row] for row in batch]
                    continue
                failure = _Failure(batch[0], _describe(error), batch[1:])
                log.warning(
                    "outbox_delivery_failed",
                    event_id=batch[0].id,
                    attempts=batch[0].attempts + 1,
                    error=failure.error,
                )
                failures.append(failure)
                if recipient_down:
                    failure.postponed.extend(row for rest in batches for row in rest)
                    return True
                continue
            delivered.extend(row.id for row in batch)
        return False

    async def _record_audit(self, rows: Sequence[_Claimed]) -> None:
        stub = self._channels.stub("audit", audit_pb2_grpc.AuditServiceStub)
        request = audit_pb2.BatchRecordRequest(
            events=[audit_event_message(row.id, row.payload) for row in rows]
        )
        await stub.BatchRecord(request, metadata=self._metadata)

    async def _commit_usage(self, rows: Sequence[_Claimed]) -> None:
        [row] = rows  # batch_size 1: billing commits one turn per call
        stub = self._channels.stub("billing", billing_pb2_grpc.BillingServiceStub)
        await stub.CommitUsage(usage_commit_request(row.payload), metadata=self._metadata)

    async def _settle(self, delivered: list[str], failures: list[_Failure]) -> None:
        """Marks delivered rows, each failed one (with its backoff) and the rows postponed behind it."""
        if not delivered and not failures:
            return
        now = utcnow()
        async with self._database.core_transaction() as connection:
            if delivered:
                await connection.execute(_MARK_DELIVERED, {"ids": delivered, "delivered_at": now})
            for failure in failures:
                retry_at = now + backoff(failure.row.attempts + 1)
                heapq.heappush(self._retry_times, retry_at)
                await connection.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == failure.row.id)
                    .values(attempts=OUTBOX.c.attempts + 1, last_error=failure.error, available_at=retry_at)
                )
                if failure.postponed:
                    await connection.execute(
                        update(OUTBOX)
                        .where(OUTBOX.c.id.in_([other.id for other in failure.postponed]))
                        .values(available_at=retry_at)
                    )


def _describe(error: Exception) -> str:
    text = f"{error.code.value}: {error.message}" if isinstance(error, GekoError) else repr(error)
    return text[:MAX_ERROR_LENGTH]
