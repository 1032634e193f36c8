"""A turn's deltas: the first text goes to a waiting reader at once, later text at most one delta per
MIN_DELTA_INTERVAL (coalesced meanwhile), and the end of the turn flushes what is pending at once."""

from __future__ import annotations

import asyncio

import pytest

from geko.chat.v1 import chat_pb2
from services.chat import turn as turn_module
from services.chat.turn import Turn, TurnOwner

INTERVAL = 0.2


@pytest.fixture(autouse=True)
def interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turn_module, "MIN_DELTA_INTERVAL", INTERVAL)


def texts(events: list[chat_pb2.ChatEvent]) -> list[str]:
    return [event.delta.text for event in events if event.HasField("delta")]


async def test_the_first_text_wakes_a_waiting_reader_at_once_and_later_text_waits_for_the_interval() -> None:
    turn = Turn("t", TurnOwner("tenant", "user", "ws"))
    loop = asyncio.get_running_loop()
    first_read = asyncio.create_task(turn.wait_after(0))
    await asyncio.sleep(0)

    assert turn.add_text("Hel") is True  # a reader was waiting: the producer yields to it
    first = await asyncio.wait_for(first_read, 0.05)
    sent_at = loop.time()
    second_read = asyncio.create_task(turn.wait_after(first[-1].sequence))
    await asyncio.sleep(0)
    assert turn.add_text("lo") is False  # too soon after the first delta: it waits
    turn.add_text(" there")
    await asyncio.sleep(INTERVAL / 4)
    assert not second_read.done()
    second = await asyncio.wait_for(second_read, INTERVAL * 2)

    assert texts(first) == ["Hel"]
    assert texts(second) == ["lo there"]  # coalesced while it waited
    assert loop.time() - sent_at >= INTERVAL * 0.9


async def test_the_end_of_the_turn_flushes_pending_text_at_once() -> None:
    turn = Turn("t", TurnOwner("tenant", "user", "ws"))
    turn.add_text("a")
    first = await turn.wait_after(0)
    turn.add_text("b")
    turn.emit(chat_pb2.ChatEvent(completed=chat_pb2.ChatCompleted()))

    rest = await asyncio.wait_for(turn.wait_after(first[-1].sequence), 0.05)

    assert texts(first) == ["a"]
    assert texts(rest) == ["b"]
    assert rest[-1].HasField("completed")
    assert turn.finished
