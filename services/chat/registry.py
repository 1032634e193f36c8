"""The turns of this chat process, and what makes them visible to every process: the event log, the owner
record, cancellation over pub/sub and the "someone is still watching" heartbeat.

- Each turn's events are appended to the shared EventLog (a Redis stream, or in-process) by a recorder task,
  so `ResumeChat` works in any process, also after the turn ended here.
- `chat:turn:<id>` in the shared cache says who owns a turn (tenant, user, workspace): resume and cancel are
  allowed to them only; anyone else gets NOT_FOUND.
- `CancelChat` reaching a process that does not run the turn publishes the id on `chat.cancel`; the owner
  process cancels it.
- A turn whose readers are all gone keeps generating for `chat_resume_grace_seconds`, so a client that lost
  its connection can resume; readers attached in another process keep it alive through `chat:watch:<id>`.
  After the grace period with nobody watching, the turn is cut (and billed for what was produced).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

from geko.chat.v1 import chat_pb2
from services.chat.turn import Turn, TurnOwner
from services.runtime.backends import Backends
from services.runtime.logging import get_logger

log = get_logger(__name__)

CANCEL_CHANNEL = "chat.cancel"
# How long a request that lost the claim on a turn id waits for the winner to register the turn.
CLAIM_WAIT_SECONDS = 5.0
# A recorder with no local reader waits this long to let text pile up before it flushes a delta to the log.
UNWATCHED_FLUSH_SECONDS = 0.05


def owner_key(turn_id: str) -> str:
    return f"chat:turn:{turn_id}"


def claim_key(turn_id: str) -> str:
    return f"chat:claim:{turn_id}"


def watch_key(turn_id: str) -> str:
    return f"chat:watch:{turn_id}"


def log_stream(turn_id: str) -> str:
    return f"chat:{turn_id}"


class TurnRegistry:
    """Running turns by id, with their recorders; one per chat servicer."""

    def __init__(self, backends: Backends, *, grace_seconds: float, ttl_seconds: float) -> None:
        self._backends = backends
        self._grace = grace_seconds
        self._ttl = ttl_seconds
        self._turns: dict[str, Turn] = {}
        self._cancellers: dict[str, Callable[[], None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None

    def get(self, turn_id: str) -> Turn | None:
        return self._turns.get(turn_id)

    async def start(self, turn: Turn, cancel: Callable[[], None]) -> None:
        """Registers a new turn: its owner record, its recorder, and how to cancel it."""
        self._ensure_listener()
        self._turns[turn.id] = turn
        self._cancellers[turn.id] = cancel
        await self._keep_owner(turn)
        self._spawn(self._record(turn), f"geko-chat-recorder-{turn.id}")

    async def _keep_owner(self, turn: Turn) -> None:
        """(Re)writes the owner record, which must live as long as the turn's events do."""
        owner = turn.owner
        record = {"tenant_id": owner.tenant_id, "user_id": owner.user_id, "workspace_id": owner.workspace_id}
        await self._backends.cache.set(owner_key(turn.id), json.dumps(record).encode(), self._ttl)

    async def claim(self, turn_id: str) -> bool:
        """True for the one request, in any process, that may run a client-chosen turn id: the others replay
        it. A turn already known (running here, or its owner record alive) is never claimed again."""
        if self._turns.get(turn_id) is not None or await self.owner(turn_id) is not None:
            return False
        return await self._backends.cache.incr(claim_key(turn_id), 1, self._ttl) == 1

    async def wait_owner(self, turn_id: str) -> TurnOwner | None:
        """The owner of a claimed turn, once the process that claimed it has registered it."""
        deadline = asyncio.get_running_loop().time() + CLAIM_WAIT_SECONDS
        while True:
            owner = await self.owner(turn_id)
            if owner is not None or asyncio.get_running_loop().time() > deadline:
                return owner
            await asyncio.sleep(0.02)

    async def owner(self, turn_id: str) -> TurnOwner | None:
        turn = self._turns.get(turn_id)
        if turn is not None:
            return turn.owner
        raw = await self._backends.cache.get(owner_key(turn_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return TurnOwner(record["tenant_id"], record["user_id"], record["workspace_id"])

    async def cancel(self, turn_id: str) -> None:
        """Cancels the turn here, or asks the process that runs it."""
        if not self._cancel_local(turn_id):
            await self._backends.pubsub.publish(CANCEL_CHANNEL, turn_id.encode())

    def _cancel_local(self, turn_id: str) -> bool:
        cancel = self._cancellers.get(turn_id)
        if cancel is None:
            return False
        cancel()
        return True

    def attach(self, turn: Turn) -> None:
        turn.readers += 1

    def detach(self, turn: Turn) -> None:
        """A local reader left; when it was the last one, the turn gets its grace period."""
        turn.readers -= 1
        if turn.readers == 0 and not turn.finished:
            self._spawn(self._abandon_unwatched(turn), f"geko-chat-grace-{turn.id}")

    async def heartbeat(self, turn_id: str) -> None:
        """Called periodically by readers in other processes: the turn is still watched."""
        await self._backends.cache.set(watch_key(turn_id), b"1", max(self._grace, 0.1))

    @property
    def heartbeat_seconds(self) -> float:
        return max(self._grace / 3, 0.05)

    async def _abandon_unwatched(self, turn: Turn) -> None:
        deadline = asyncio.get_running_loop().time() + self._grace
        while not turn.finished and turn.readers == 0:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                if await self._backends.cache.get(watch_key(turn.id)) is None:
                    log.info("chat_turn_abandoned", turn_id=turn.id)
                    self._cancel_local(turn.id)
                    return
                deadline = asyncio.get_running_loop().time() + self.heartbeat_seconds
                continue
            await asyncio.sleep(min(remaining, self.heartbeat_seconds))

    async def _record(self, turn: Turn) -> None:
        """Appends the turn's events to the event log as they are created; the last append carries the
        terminal event, after which the turn leaves the registry (resumes then read the log)."""
        recorded = 0
        event_log = self._backends.event_log
        stream = log_stream(turn.id)
        loop = asyncio.get_running_loop()
        owner_written = loop.time()
        try:
            while True:
                if turn.readers == 0 and turn.has_pending and not turn.finished:
                    await asyncio.sleep(UNWATCHED_FLUSH_SECONDS)
                    if turn.readers == 0:
                        turn.flush()
                if turn.last_seq > recorded:
                    batch = turn.events[recorded:]
                    await event_log.append(
                        stream, [(event.sequence, event.SerializeToString()) for event in batch], self._ttl
                    )
                    recorded += len(batch)
                    if turn.finished or loop.time() - owner_written > self._ttl / 2:
                        await self._keep_owner(turn)  # the log's expiry just moved on
                        owner_written = loop.time()
                    continue
                if turn.finished:
                    break
                await turn.wait_changed()
            if turn.error is not None:
                # Refused before it began: nothing to resume, and its id may be tried again.
                await self._backends.cache.delete(owner_key(turn.id), claim_key(turn.id))
        except Exception:
            log.exception("chat_event_log_failed", turn_id=turn.id)
        finally:
            self._turns.pop(turn.id, None)
            self._cancellers.pop(turn.id, None)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="geko-chat-cancel-listener")

    async def _listen(self) -> None:
        """Cancels turns of this process that another process was asked to cancel."""
        try:
            async with self._backends.pubsub.subscribe(CANCEL_CHANNEL) as subscription:
                async for message in subscription:
                    self._cancel_local(message.decode())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("chat_cancel_listener_failed")

    async def aclose(self) -> None:
        """Stops the listener; running turns are cancelled (billed for what they produced)."""
        for cancel in list(self._cancellers.values()):
            cancel()
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)


def decode_event(data: bytes) -> chat_pb2.ChatEvent:
    event = chat_pb2.ChatEvent()
    event.ParseFromString(data)
    return event


def is_terminal(event: chat_pb2.ChatEvent) -> bool:
    return event.WhichOneof("kind") in ("completed", "failed")
