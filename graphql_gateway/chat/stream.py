"""Relaying a turn's gRPC event stream to GraphQL, one event per message, as the call hands them over.

Coalescing happens where the text is (services/chat/turn.py): pending text goes out as one delta when the
turn's reader comes back for more, and at most every 25 ms after the first. The reader here holds that reader
back while Strawberry sends (an in-process call hands over one message at a time; over a socket, gRPC's flow
control), so a slow client or a busy gateway gets fewer, larger deltas. A pump task merging deltas here as
well cost every event a loop round more on its way to the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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


class EventRelay:
    """Wraps a started server-streaming call whose responses carry `.event`."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._responses: AsyncIterator[Any] = aiter(call)

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

    async def rest(self) -> AsyncIterator[chat_pb2.ChatEvent]:
        """The events after `first()`; the call is cancelled when the consumer stops early (the client
        unsubscribed)."""
        try:
            async for response in self._responses:
                yield response.event
        finally:
            self._call.cancel()
