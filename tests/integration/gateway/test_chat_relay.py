"""EventRelay: a turn's events relayed one by one as the call hands them over (the turn coalesces them), the
call read only as fast as the consumer takes them, failures and early stops passed on to the call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from geko.chat.v1 import chat_pb2
from graphql_gateway.chat.stream import EventRelay
from services.runtime.errors import GekoError, UpstreamUnavailable


def started(seq: int) -> chat_pb2.ChatEvent:
    return chat_pb2.ChatEvent(sequence=seq, started=chat_pb2.ChatStarted(turn_id="t"))


def delta(seq: int, text: str) -> chat_pb2.ChatEvent:
    return chat_pb2.ChatEvent(sequence=seq, delta=chat_pb2.ChatDelta(text=text))


def completed(seq: int) -> chat_pb2.ChatEvent:
    return chat_pb2.ChatEvent(sequence=seq, completed=chat_pb2.ChatCompleted(message_id="m"))


class FakeCall:
    """A started server stream: its responses in bursts (no yield to the loop within a burst), then
    `failure` if given."""

    def __init__(self, *bursts: list[chat_pb2.ChatEvent], failure: GekoError | None = None) -> None:
        self._bursts = bursts
        self._failure = failure
        self.cancelled = False
        self.read = 0  # responses handed over so far

    def __aiter__(self) -> AsyncIterator[chat_pb2.StreamChatResponse]:
        return self._responses()

    async def _responses(self) -> AsyncIterator[chat_pb2.StreamChatResponse]:
        for burst in self._bursts:
            for event in burst:
                self.read += 1
                yield chat_pb2.StreamChatResponse(event=event)
            for _ in range(3):  # the reader catches up before the next burst
                await asyncio.sleep(0)
        if self._failure is not None:
            raise self._failure

    def cancel(self) -> None:
        self.cancelled = True


async def relayed(relay: EventRelay) -> list[tuple[int, str]]:
    return [(event.sequence, event.WhichOneof("kind") or "") async for event in relay.rest()]


async def test_every_event_goes_out_as_its_own_in_order() -> None:
    call = FakeCall([started(1)], [delta(2, "a"), delta(3, "b"), delta(4, "c")], [completed(5)])
    relay = EventRelay(call)
    first = await relay.first()
    assert first is not None
    assert first.sequence == 1
    events = [event async for event in relay.rest()]
    assert [(event.sequence, event.WhichOneof("kind")) for event in events] == [
        (2, "delta"),
        (3, "delta"),
        (4, "delta"),
        (5, "completed"),
    ]
    assert [event.delta.text for event in events[:3]] == ["a", "b", "c"]
    assert call.cancelled  # the call is always released at the end


async def test_the_call_is_read_only_as_fast_as_the_consumer_takes_events() -> None:
    call = FakeCall([started(1)], [delta(2, "a"), delta(3, "b"), delta(4, "c")], [completed(5)])
    relay = EventRelay(call)
    await relay.first()
    events = relay.rest()
    assert (await anext(events)).sequence == 2
    for _ in range(5):
        await asyncio.sleep(0)  # the consumer is busy: nothing reads ahead for it
    assert call.read == 2
    await events.aclose()  # type: ignore[attr-defined]


async def test_events_go_out_one_by_one_when_the_reader_keeps_up() -> None:
    call = FakeCall([started(1)], [delta(2, "a")], [delta(3, "b")], [completed(4)])
    relay = EventRelay(call)
    await relay.first()
    assert await relayed(relay) == [(2, "delta"), (3, "delta"), (4, "completed")]


async def test_a_failure_after_some_events_comes_after_them() -> None:
    call = FakeCall([started(1)], [delta(2, "a")], failure=UpstreamUnavailable("chat went away"))
    relay = EventRelay(call)
    await relay.first()
    seen: list[int] = []

    async def read_all() -> None:
        async for event in relay.rest():
            seen.append(event.sequence)

    with pytest.raises(UpstreamUnavailable, match="chat went away"):
        await read_all()
    assert seen == [2]


async def test_a_stream_without_events_has_no_first_and_no_rest() -> None:
    relay = EventRelay(FakeCall())
    assert await relay.first() is None


async def test_a_reader_that_stops_early_cancels_the_call() -> None:
    call = FakeCall([started(1)], [delta(2, "a")], [delta(3, "b")], [completed(4)])
    relay = EventRelay(call)
    await relay.first()
    events = relay.rest()
    assert (await anext(events)).sequence == 2
    assert not call.cancelled
    await events.aclose()  # type: ignore[attr-defined]
    assert call.cancelled


async def test_a_refused_first_event_cancels_the_call() -> None:
    call = FakeCall(failure=UpstreamUnavailable("no"))
    with pytest.raises(UpstreamUnavailable):
        await EventRelay(call).first()
    assert call.cancelled
