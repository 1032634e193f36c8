"""Identity subscriptions: a heartbeat that proves a WebSocket is alive and signed in as whom."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import strawberry
from strawberry.types import Info

from graphql_gateway.auth.types import Heartbeat
from graphql_gateway.context import IsAuthenticated, context_of
from services.runtime.clock import utcnow
from services.runtime.errors import BadInput

MIN_INTERVAL_MS = 100
MAX_INTERVAL_MS = 60_000


@strawberry.type
class AuthSubscriptions:
    @strawberry.subscription(
        description="Ticks every `intervalMs` (100 to 60000) with the time and the signed-in user's id.",
        permission_classes=[IsAuthenticated],
    )
    async def heartbeat(self, info: Info, interval_ms: int = 15_000) -> AsyncIterator[Heartbeat]:
        # Checked before the stream starts, so a refusal is the subscription's `error`, not an event.
        if not MIN_INTERVAL_MS <= interval_ms <= MAX_INTERVAL_MS:
            raise BadInput(
                f"intervalMs must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS}", field="intervalMs"
            )
        principal = await context_of(info).principal()
        return _ticks(strawberry.ID(principal.user_id), interval_ms / 1000)


async def _ticks(user_id: strawberry.ID, interval_seconds: float) -> AsyncGenerator[Heartbeat, None]:
    while True:
        yield Heartbeat(time=utcnow(), user_id=user_id)
        await asyncio.sleep(interval_seconds)
