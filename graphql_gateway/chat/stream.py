"""Relaying a turn's gRPC event stream to GraphQL, coalesced on this hop too (../shared/STACK.md).

A pump task reads the gRPC stream as fast as it arrives; the consumer (Strawberry, which executes and sends
one result per event) takes whatever piled up while it was busy and gets consecutive deltas merged into one.
So a slow client or a busy gateway sends fewer, larger deltas instead of falling behind token by token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

from geko.chat.v1 import chat_pb2
from graphql_gateway.connections import paging_arguments

# The chat service's names of request fields, as ChatInput calls them.
INPUT_FIELDS = {
    "workspace_id": "input.workspaceId",
    "conversation_id": "input.conversationId",
    "model": "input.model",
    "model_id": "input.model",
    "message": "input.message",
    "maxTokens": "input.maxTokens",
    "turnId": "input.turnId",
    "idempotency_key": "input.turnId",
    "afterSeq": "input.resume.afterSeq",
}


def merge_deltas(batch: list[chat_pb2.ChatEvent]) -> list[chat_pb2.ChatEvent]:
    """Consecutive deltas become one carrying their text and the last one's sequence number."""
    merged: list[chat_pb2.ChatEvent] = []
    for event in batch:
        previous = merged[-1] if merged else None
        if previous is not None and event.HasField("delta") and previous.HasField("delta"):
            previous.delta.text += event.delta.text
            previous.sequence = event.sequence
        else:
            merged.append(event)
    return merged


class EventRelay:
    """Wraps a started server-streaming call whose responses carry `.event`."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._responses: AsyncIterator[Any] = aiter(call)
        self._pending: list[chat_pb2.ChatEvent] = []
        # What the consumer awaits while nothing is pending: a bare future, not an asyncio.Event (whose
        # waiter bookkeeping costs ~1.5 µs of every relayed event).
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._error: BaseException | None = None
        self._pump_task: asyncio.Task[None] | None = None

    async def first(self) -> chat_pb2.ChatEvent | None:
        """Waits for the first event, so that a refused request is the operation's error, not an event."""
        try:
            with paging_arguments(INPUT_FIELDS):
                response = await anext(self._responses, None)
        except BaseException:
            self._call.cancel()
            raise
        if response is None:
            return None
        event: chat_pb2.ChatEvent = response.event
        return event

    async def _pump(self) -> None:
        try:
            async for response in self._responses:
                self._pending.append(response.event)
                self._wake()
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self._error = error
        finally:
            self._done = True
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def rest(self) -> AsyncIterator[chat_pb2.ChatEvent]:
        """The events after `first()`, merged as they pile up; the call is cancelled when the consumer
        stops early (the client unsubscribed)."""
        self._pump_task = asyncio.create_task(self._pump())
        try:
            while True:
                if not self._pending and not self._done:
                    self._waiter = asyncio.get_running_loop().create_future()
                    await self._waiter
                batch, self._pending = self._pending, []
                for event in merge_deltas(batch):
                    yield event
                if self._done and not self._pending:
                    if self._error is not None:
                        raise self._error
                    return
        finally:
            self._pump_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._pump_task
            self._call.cancel()
