"""AppendMessages over real gRPC: a chat turn's messages (and its new conversation) stored in one call, all or
nothing, idempotent by message id."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import grpc
import pytest
from sqlalchemy import func, select, update

from db.models.memory import Conversation, Message
from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from services.runtime.clock import utcnow
from services.runtime.errors import ErrorCode
from services.runtime.ids import new_id
from tests.integration.auth.harness import Platform, audit_events, db_session, rpc_error
from tests.integration.workspace.team import Person, Team, new_team

pytestmark = pytest.mark.usefixtures("memory_platform")

USER = memory_pb2.MESSAGE_ROLE_USER
ASSISTANT = memory_pb2.MESSAGE_ROLE_ASSISTANT


class Turns:
    """A team and the memory stub; builds and sends AppendMessages requests as one person."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.stub = memory_pb2_grpc.MemoryServiceStub(team.platform.channel)

    @staticmethod
    def turn(
        turn_id: str = "turn-1",
        answer_status: memory_pb2.MessageStatus = memory_pb2.MESSAGE_STATUS_COMPLETE,
    ) -> list[memory_pb2.AppendMessageRequest]:
        """A user question and the assistant's answer, with writer-chosen ids."""
        return [
            memory_pb2.AppendMessageRequest(
                message_id=new_id(), role=USER, content="How do  tides\nwork?", turn_id=turn_id
            ),
            memory_pb2.AppendMessageRequest(
                message_id=new_id(),
                role=ASSISTANT,
                content="The moon pulls the sea.",
                model_id="gpt-4o-mini",
                input_tokens=12,
                output_tokens=6,
                status=answer_status,
                turn_id=turn_id,
            ),
        ]

    async def append(
        self,
        conversation_id: str,
        messages: list[memory_pb2.AppendMessageRequest],
        *,
        create: bool = True,
        person: Person | None = None,
        title: str = "",
    ) -> memory_pb2.AppendMessagesResponse:
        return await self.stub.AppendMessages(
            memory_pb2.AppendMessagesRequest(
                workspace_id=self.team.workspace_id,
                conversation_id=conversation_id,
                create_conversation=create,
                messages=messages,
                title=title,
            ),
            metadata=self.team.md(person or self.team.owner),
        )

    async def contents(self, conversation_id: str, person: Person | None = None) -> list[str]:
        listed = await self.stub.ListMessages(
            memory_pb2.ListMessagesRequest(conversation_id=conversation_id),
            metadata=self.team.md(person or self.team.owner),
        )
        return [row.content for row in listed.messages]


@pytest.fixture
async def turns(memory_platform: Platform) -> Turns:
    return Turns(await new_team(memory_platform))


async def _stored(platform: Platform, conversation_id: str) -> tuple[int, int]:
    """Rows in the database: conversations with this id, and their messages."""
    async with db_session(platform) as db:
        conversations = await db.scalar(select(func.count()).where(Conversation.id == conversation_id))
        messages = await db.scalar(select(func.count()).where(Message.conversation_id == conversation_id))
    return int(conversations or 0), int(messages or 0)


async def _created_audits(platform: Platform, conversation_id: str) -> int:
    events = await audit_events(platform, service="memory")
    return sum(
        1
        for event in events
        if event["resource_id"] == conversation_id and event["action"] == "CONVERSATION_CREATED"
    )


async def test_one_call_creates_the_conversation_and_stores_the_turn_in_order(
    turns: Turns, memory_platform: Platform
) -> None:
    conversation_id = new_id()
    messages = turns.turn(answer_status=memory_pb2.MESSAGE_STATUS_CUT)

    answer = await turns.append(conversation_id, messages)

    assert answer.conversation.id == conversation_id
    assert answer.conversation.user_id == turns.team.owner.user_id
    assert answer.conversation.workspace_id == turns.team.workspace_id
    assert answer.conversation.title == "How do tides work?"
    assert answer.conversation.last_message_time == answer.messages[1].create_time
    assert [row.id for row in answer.messages] == [row.message_id for row in messages]
    assert [row.status for row in answer.messages] == [
        memory_pb2.MESSAGE_STATUS_COMPLETE,
        memory_pb2.MESSAGE_STATUS_CUT,
    ]
    assert (answer.messages[1].model_id, answer.messages[1].output_tokens) == ("gpt-4o-mini", 6)
    assert await turns.contents(conversation_id) == ["How do  tides\nwork?", "The moon pulls the sea."]
    got = await turns.stub.GetConversation(
        memory_pb2.GetConversationRequest(id=conversation_id), metadata=turns.team.md(turns.team.owner)
    )
    assert got.conversation.title == "How do tides work?"
    assert await _created_audits(memory_platform, conversation_id) == 1


async def test_a_replayed_call_stores_nothing_twice(turns: Turns, memory_platform: Platform) -> None:
    conversation_id = new_id()
    messages = turns.turn()
    first = await turns.append(conversation_id, messages)

    replayed = list(messages)
    replayed[1] = memory_pb2.AppendMessageRequest(
        message_id=messages[1].message_id, role=ASSISTANT, content="a different retry"
    )
    again = await turns.append(conversation_id, replayed)

    assert [row.id for row in again.messages] == [row.id for row in first.messages]
    assert again.messages[1].content == "The moon pulls the sea."
    assert await _stored(memory_platform, conversation_id) == (1, 2)
    assert await _created_audits(memory_platform, conversation_id) == 1


async def test_a_next_turn_appends_to_the_callers_conversation_and_keeps_its_title(
    turns: Turns, memory_platform: Platform
) -> None:
    conversation_id = new_id()
    await turns.append(conversation_id, turns.turn("turn-1"), title="Tides")
    second = turns.turn("turn-2")
    second[0].content = "And the sun?"

    answer = await turns.append(conversation_id, second, create=False)

    assert answer.conversation.title == "Tides"
    assert await turns.contents(conversation_id) == [
        "How do  tides\nwork?",
        "The moon pulls the sea.",
        "And the sun?",
        "The moon pulls the sea.",
    ]
    assert await _created_audits(memory_platform, conversation_id) == 1

    created = await turns.append(new_id(), turns.turn(), create=True)
    code, error = await rpc_error(turns.append(new_id(), turns.turn(), create=False))
    assert (code, error.code) == (grpc.StatusCode.NOT_FOUND, ErrorCode.NOT_FOUND)
    assert created.conversation.title == "How do tides work?"


async def test_another_users_conversation_is_a_conflict_to_create_and_not_found_to_append(
    turns: Turns, memory_platform: Platform
) -> None:
    conversation_id = new_id()
    await turns.append(conversation_id, turns.turn())
    colleague = await turns.team.join("editor")
    stranger = (await new_team(memory_platform, "Other")).owner

    code, error = await rpc_error(turns.append(conversation_id, turns.turn(), person=colleague))
    assert (code, error.code, error.field) == (
        grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.CONFLICT,
        "conversation_id",
    )
    code, _ = await rpc_error(turns.append(conversation_id, turns.turn(), create=False, person=colleague))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await rpc_error(turns.append(conversation_id, turns.turn(), person=stranger))
    assert code == grpc.StatusCode.NOT_FOUND  # not a member of the workspace

    assert await _stored(memory_platform, conversation_id) == (1, 2)
    assert await turns.contents(conversation_id) == ["How do  tides\nwork?", "The moon pulls the sea."]


async def test_invalid_messages_are_bad_input_naming_the_field_and_write_nothing(
    turns: Turns, memory_platform: Platform
) -> None:
    conversation_id = new_id()
    for change, field in (
        ({"role": memory_pb2.MESSAGE_ROLE_UNSPECIFIED}, "messages[1].role"),
        ({"message_id": "not-a-uuid"}, "messages[1].message_id"),
        ({"content": "", "status": memory_pb2.MESSAGE_STATUS_COMPLETE}, "messages[1].content"),
        ({"input_tokens": -1}, "messages[1].input_tokens"),
        ({"conversation_id": new_id()}, "messages[1].conversation_id"),
    ):
        messages = turns.turn()
        for name, value in change.items():
            setattr(messages[1], name, value)
        code, error = await rpc_error(turns.append(conversation_id, messages))
        assert (code, error.code, error.field) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.BAD_USER_INPUT,
            field,
        )
    for bad_id, messages, field in (
        ("", turns.turn(), "conversation_id"),
        ("nope", turns.turn(), "conversation_id"),
        (conversation_id, [], "messages"),
        (conversation_id, turns.turn() * 26, "messages"),
    ):
        code, error = await rpc_error(turns.append(bad_id, messages))
        assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    code, error = await rpc_error(turns.append(conversation_id, turns.turn(), title="t" * 201))
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "title")

    assert await _stored(memory_platform, conversation_id) == (0, 0)


async def test_a_message_id_of_another_conversation_undoes_the_whole_call(
    turns: Turns, memory_platform: Platform
) -> None:
    elsewhere = await turns.append(new_id(), turns.turn())
    conversation_id = new_id()
    messages = turns.turn()
    messages[1].message_id = elsewhere.messages[0].id

    code, error = await rpc_error(turns.append(conversation_id, messages))

    assert (code, error.code, error.field) == (
        grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.CONFLICT,
        "messages[1].message_id",
    )
    assert await _stored(memory_platform, conversation_id) == (0, 0)
    assert await _created_audits(memory_platform, conversation_id) == 0


async def test_a_viewer_is_forbidden(turns: Turns, memory_platform: Platform) -> None:
    viewer = await turns.team.join("viewer")
    conversation_id = new_id()

    code, error = await rpc_error(turns.append(conversation_id, turns.turn(), person=viewer))

    assert (code, error.code) == (grpc.StatusCode.PERMISSION_DENIED, ErrorCode.FORBIDDEN)
    assert await _stored(memory_platform, conversation_id) == (0, 0)


async def test_concurrent_replays_of_a_new_conversation_store_it_once(
    turns: Turns, memory_platform: Platform
) -> None:
    conversation_id = new_id()
    messages = turns.turn()

    answers = await asyncio.gather(*(turns.append(conversation_id, messages) for _ in range(3)))

    assert {tuple(row.id for row in answer.messages) for answer in answers} == {
        tuple(row.message_id for row in messages)
    }
    assert await _stored(memory_platform, conversation_id) == (1, 2)
    assert await _created_audits(memory_platform, conversation_id) == 1


async def test_a_replayed_answer_to_a_stored_conversation_stores_nothing_twice(
    turns: Turns, memory_platform: Platform
) -> None:
    conversation_id = new_id()
    question, answer = turns.turn()
    await turns.append(conversation_id, [question])
    first = await turns.append(conversation_id, [answer], create=False)

    answer.content = "a different retry"
    again = await turns.append(conversation_id, [answer], create=False)

    assert again.messages[0].content == "The moon pulls the sea."
    assert again.conversation.last_message_time == first.conversation.last_message_time
    assert await _stored(memory_platform, conversation_id) == (1, 2)


async def test_a_next_message_is_stored_after_the_last_one_even_when_the_clock_stepped_back(
    turns: Turns, memory_platform: Platform
) -> None:
    conversation_id = new_id()
    question, answer = turns.turn()
    await turns.append(conversation_id, [question])
    ahead = utcnow() + timedelta(hours=1)  # the last message's time, written by a clock that ran ahead
    async with memory_platform.deps.database.transaction() as session:
        await session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(last_message_at=ahead)
        )

    stored = await turns.append(conversation_id, [answer], create=False)

    assert stored.messages[0].create_time.ToDatetime(UTC) > ahead
    assert stored.conversation.last_message_time == stored.messages[0].create_time
    assert await turns.contents(conversation_id) == ["How do  tides\nwork?", "The moon pulls the sea."]


async def test_an_untitled_conversation_takes_the_title_of_its_first_question_in_a_later_call(
    turns: Turns,
) -> None:
    conversation_id = new_id()
    question, answer = turns.turn()
    started = await turns.append(conversation_id, [answer])  # e.g. a greeting before any question

    asked = await turns.append(conversation_id, [question], create=False)

    assert (started.conversation.title, asked.conversation.title) == ("", "How do tides work?")
    question.message_id, question.content = new_id(), "And the sun?"
    again = await turns.append(conversation_id, [question], create=False)
    assert again.conversation.title == "How do tides work?"
