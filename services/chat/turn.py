"""One turn's events inside the chat process: numbered, kept, and handed to readers coalesced.

Coalescing is what makes streaming fast (../shared/STACK.md): the provider's text is appended to a pending
buffer, and a reader that comes back for more turns everything pending into ONE delta event. While a reader is
busy writing (gRPC flow control is the readiness signal), tokens pile up and travel together; an idle reader
is woken by the first token at once, so the first token never waits for a burst. Every event gets the next
sequence number when it is created, so all readers (and the event log) see the same numbered events.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from geko.chat.v1 import chat_pb2
from services.runtime.errors import GekoError


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
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting = 0
        # Readers attached in this process (StreamChat/ResumeChat handlers).
        self.readers = 0
        self.finished = False
        # Set when the request itself was refused before the turn began (the call's error, not an event).
        self.error: GekoError | None = None

    @property
    def last_seq(self) -> int:
        return len(self.events)

    def _wake(self) -> None:
        if not self._changed.done():
            self._changed.set_result(None)
        self._changed = asyncio.get_running_loop().create_future()

    def add_text(self, text: str) -> bool:
        """Queues generated text for the next delta; True when a reader was woken by it, so the producer
        should yield and let that reader send it now."""
        first = not self._pending
        self._pending.append(text)
        if first and self._waiting:
            self._wake()
            return True
        return False

    def flush(self) -> None:
        """Turns the pending text into one delta event."""
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._append(chat_pb2.ChatEvent(delta=chat_pb2.ChatDelta(text=text)))

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
                self.flush()
            if self.last_seq > seq:
                return self.events[seq:]
            if self.finished:
                return []
            await self.wait_changed()

    async def wait_changed(self) -> None:
        """Returns at the next new event or pending text (for the recorder, which does not flush)."""
        self._waiting += 1
        try:
            await asyncio.shield(self._changed)
        finally:
            self._waiting -= 1

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)
