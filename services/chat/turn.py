"""One turn's events inside the chat process: numbered, kept, and handed to readers coalesced.

Coalescing is what makes streaming fast (../shared/STACK.md): the provider's text is appended to a pending
buffer, and a reader that comes back for more turns everything pending into ONE delta event. While a reader is
busy writing (gRPC flow control is the readiness signal), tokens pile up and travel together; an idle reader
is woken by the first token at once, so the first token never waits for a burst. After a delta, the next one
waits until MIN_DELTA_INTERVAL has passed: a provider pacing its tokens (one every 10-50 ms) would otherwise
cost a delta, an event-log append and a WebSocket message per token, while a reader's screen gains nothing
from updates closer together than a frame or two. Every event gets the next sequence number when it is
created, so all readers (and the event log) see the same numbered events.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from geko.chat.v1 import chat_pb2
from services.runtime.errors import GekoError

# Seconds from one delta to the next at the least (the first goes out at once).
MIN_DELTA_INTERVAL = 0.025


@dataclass(frozen=True, slots=True)
class TurnOwner:
    """Who ran the turn: only they may resume or cancel it."""

    tenant_id: str
    user_id: str
    workspace_id: str


class Turn:
    """Events of a running turn; seq n is `events[n - 1]`."""

    def __init__(self, turn_id: str, owner: TurnOwner) -> None:
        self.id = turn_id
        self.owner = owner
        self.events: list[chat_pb2.ChatEvent] = []
        self._pending: list[str] = []
        self._loop = asyncio.get_running_loop()
        # One future per waiting reader, not one shared future that each awaits through `asyncio.shield`
        # (cancelling a reader must not cancel the others' wait): shield's callbacks cost every wake a loop
        # round more, and a delta crosses this wait on its way to the client.
        self._waiters: list[asyncio.Future[None]] = []
        self._next_delta_at = 0.0  # loop time before which pending text stays pending
        self._delta_timer: asyncio.TimerHandle | None = None
        # Readers attached in this process (StreamChat/ResumeChat handlers).
        self.readers = 0
        self.finished = False
        # Set when the request itself was refused before the turn began (the call's error, not an event).
        self.error: GekoError | None = None

    @property
    def last_seq(self) -> int:
        return len(self.events)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def add_text(self, text: str) -> bool:
        """Queues generated text for the next delta; True when a reader was woken by it, so the producer
        should yield and let that reader send it now."""
        first = not self._pending
        self._pending.append(text)
        if first and self._waiters:
            if self._loop.time() >= self._next_delta_at:
                self._wake()
                return True
            self._wake_for_delta()
        return False

    def _wake_for_delta(self) -> None:
        """Wakes the readers once the next delta is due (pending text waits for it)."""
        if self._delta_timer is None:
            self._delta_timer = self._loop.call_at(self._next_delta_at, self._delta_due)

    def _delta_due(self) -> None:
        self._delta_timer = None
        self._next_delta_at = min(self._next_delta_at, self._loop.time())  # a timer may run a little early
        if self._pending:
            self._wake()

    def flush(self) -> None:
        """Turns the pending text into one delta event."""
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._append(chat_pb2.ChatEvent(delta=chat_pb2.ChatDelta(text=text)))
            self._next_delta_at = self._loop.time() + MIN_DELTA_INTERVAL

    def emit(self, event: chat_pb2.ChatEvent) -> chat_pb2.ChatEvent:
        """Appends a non-delta event (after any pending text); a terminal one finishes the turn."""
        self.flush()
        self._append(event)
        if event.WhichOneof("kind") in ("completed", "failed"):
            self.finished = True
        self._wake()
        return event

    def reject(self, error: GekoError) -> None:
        """Ends a turn that never began: its readers raise `error`."""
        self.error = error
        self.finished = True
        self._wake()

    def _append(self, event: chat_pb2.ChatEvent) -> None:
        event.turn_id = self.id
        event.sequence = len(self.events) + 1
        self.events.append(event)

    async def wait_after(self, seq: int) -> list[chat_pb2.ChatEvent]:
        """The events after `seq`, waiting for at least one; [] once the turn has finished and the reader has
        them all. A reader that has caught up flushes the pending text itself: that is the coalescing."""
        while True:
            if self._pending and self.last_seq <= seq:
                if self._loop.time() >= self._next_delta_at:
                    self.flush()
                else:
                    self._wake_for_delta()
            if self.last_seq > seq:
                return self.events[seq:]
            if self.finished:
                return []
            await self.wait_changed()

    async def wait_changed(self) -> None:
        """Returns at the next new event or pending text (for the recorder, which does not flush)."""
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:  # cancelled: no longer a reader to wake
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)
