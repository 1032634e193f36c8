"""A subscription's memory does not grow with its events (a turn streamed token by token is 200 of them)."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncGenerator

import strawberry

from graphql_gateway.schema import EventExecutor, build_schema

EVENTS = 1000
WARMUP = 50


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Token:
    seq: int
    text: str


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def tokens(self) -> AsyncGenerator[Token, None]:
        for seq in range(WARMUP + EVENTS):
            yield Token(seq=seq, text="tok")


async def test_events_leave_nothing_behind_in_the_subscription() -> None:
    schema = strawberry.Schema(Query, subscription=Subscription, execution_context_class=EventExecutor)
    stream = await schema.subscribe("subscription { tokens { __typename seq text } }")
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    events = aiter(stream)
    for _ in range(WARMUP):
        await anext(events)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(EVENTS):
            result = await anext(events)
            assert not result.errors
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        await stream.aclose()
    # graphql-core's shared memo kept ~1.2 KB per event (over 1 MB here); what is left is noise.
    assert grown < 100_000, grown


def test_the_gateway_schema_executes_with_it() -> None:
    assert build_schema().execution_context_class is EventExecutor
