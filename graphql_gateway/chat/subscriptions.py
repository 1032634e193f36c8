"""The `chat` subscription: one turn's events as they happen, coalesced (see stream.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from geko.chat.v1 import chat_pb2
from graphql_gateway.chat.stream import EventRelay
from graphql_gateway.chat.turns import open_turn
from graphql_gateway.chat.types import ChatEvent, ChatInput, event_from_proto
from graphql_gateway.context import IsAuthenticated, context_of


@strawberry.type
class ChatSubscriptions:
    @strawberry.subscription(
        description=(
            "Sends a message and streams the turn: ChatStarted, ChatDelta… and exactly one terminal "
            "ChatCompleted or ChatFailed, then the stream completes. With `resume` it re-attaches to a turn "
            "(on any gateway) and streams the events after `afterSeq`. Needs chat:create and the model's "
            "model:use permission."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def chat(self, info: Info, input: ChatInput) -> AsyncGenerator[ChatEvent, None]:
        relay = EventRelay(open_turn(context_of(info), input))
        first = await relay.first()
        return _events(first, relay)


async def _events(first: chat_pb2.ChatEvent | None, relay: EventRelay) -> AsyncGenerator[ChatEvent, None]:
    if first is None:
        return
    shaped = event_from_proto(first)
    if shaped is not None:
        yield shaped
    async for event in relay.rest():
        shaped = event_from_proto(event)
        if shaped is not None:
            yield shaped
