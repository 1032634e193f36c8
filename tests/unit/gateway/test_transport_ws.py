import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
import strawberry

from graphql_gateway.transport_ws import EagerTransportWSHandler

STARTED: list[asyncio.Task[Any] | None] = []
RELEASE: list[asyncio.Event] = []


@strawberry.type
class Query:
    hello: str = "hi"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        STARTED.append(asyncio.current_task())
        yield 1
        await RELEASE[-1].wait()


SCHEMA = strawberry.Schema(query=Query, subscription=Subscription)


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[Mapping[str, object]] = []
        self.closed: tuple[int, str] | None = None

    def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncIterator[object]:
        raise NotImplementedError

    async def send_json(self, message: Mapping[str, object]) -> None:
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


@pytest.fixture(autouse=True)
def release() -> asyncio.Event:
    STARTED.clear()
    RELEASE.append(asyncio.Event())
    return RELEASE[-1]


def handler(socket: FakeSocket) -> EagerTransportWSHandler:
    ws = EagerTransportWSHandler(
        None,  # type: ignore[arg-type]  # the view: only its JSON encoding, which this test never reaches
        socket,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,
        SCHEMA,
        timedelta(seconds=10),
        max_subscriptions_per_connection=2,
    )
    ws.connection_acknowledged = True
    return ws


async def test_an_operation_runs_its_first_step_before_subscribe_returns_as_its_own_task(
    release: asyncio.Event,
) -> None:
    socket = FakeSocket()
    ws = handler(socket)

    await ws.handle_subscribe(
        {"id": "1", "type": "subscribe", "payload": {"query": "subscription { ticks }"}}
    )

    operation = ws.operations["1"]
    assert [operation.task] == STARTED  # the resolver ran already, in the operation's task
    assert [message["type"] for message in socket.sent] == ["next"]
    assert operation.task is not None
    release.set()
    await operation.task
    assert [message["type"] for message in socket.sent] == ["next", "complete"]
    assert "1" not in ws.operations


async def test_an_operation_that_ends_in_its_first_step_is_unregistered_and_its_id_free_again() -> None:
    socket = FakeSocket()
    ws = handler(socket)
    invalid = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { nope }"}}

    await ws.handle_subscribe(invalid)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    await ws.handle_subscribe(invalid)  # type: ignore[arg-type]
    await asyncio.sleep(0)

    assert [message["type"] for message in socket.sent] == ["error", "error"]
    assert ws.operations == {}
    assert socket.closed is None


async def test_strawberrys_checks_still_apply() -> None:
    socket = FakeSocket()
    ws = handler(socket)
    ticks = {"query": "subscription { ticks }"}
    for operation_id in ("1", "2", "3"):
        await ws.handle_subscribe({"id": operation_id, "type": "subscribe", "payload": ticks})
    over_the_limit = socket.sent[-1]

    await ws.handle_subscribe({"id": "1", "type": "subscribe", "payload": ticks})
    duplicate = socket.closed
    ws.connection_acknowledged = False
    await ws.handle_subscribe({"id": "9", "type": "subscribe", "payload": ticks})
    await ws.shutdown()

    assert over_the_limit["id"] == "3"
    assert over_the_limit["type"] == "error"
    assert duplicate == (4409, "Subscriber for 1 already exists")
    assert socket.closed == (4401, "Unauthorized")
