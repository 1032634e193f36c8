"""MemoryService over real gRPC with auth and workspace: conversations, messages and context assembly."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import select

from db.models.outbox import OutboxEvent
from geko.common.v1 import common_pb2
from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from services.events.audit import AUDIT_TOPIC
from services.runtime.errors import ErrorCode
from services.runtime.ids import new_id
from tests.integration.auth.harness import Platform, db_session, rpc_error
from tests.integration.workspace.team import Person, Team, new_team

pytestmark = pytest.mark.usefixtures("memory_platform")

USER = memory_pb2.MESSAGE_ROLE_USER
ASSISTANT = memory_pb2.MESSAGE_ROLE_ASSISTANT


class Chats:
    """A team plus the memory stub, acting as one person at a time."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.stub = memory_pb2_grpc.MemoryServiceStub(team.platform.channel)

    async def create(self, title: str = "", person: Person | None = None) -> memory_pb2.Conversation:
        answer = await self.stub.CreateConversation(
            memory_pb2.CreateConversationRequest(workspace_id=self.team.workspace_id, title=title),
            metadata=self.team.md(person or self.team.owner),
        )
        return answer.conversation

    async def append(
        self,
        conversation_id: str,
        content: str,
        role: int = USER,
        person: Person | None = None,
        **fields: object,
    ) -> memory_pb2.AppendMessageResponse:
        return await self.stub.AppendMessage(
            memory_pb2.AppendMessageRequest(
                conversation_id=conversation_id, role=role, content=content, **fields
            ),
            metadata=self.team.md(person or self.team.owner),
        )

    async def titles(self, **request: object) -> list[str]:
        answer = await self.stub.ListConversations(
            memory_pb2.ListConversationsRequest(workspace_id=self.team.workspace_id, **request),
            metadata=self.team.md(self.team.owner),
        )
        return [row.title for row in answer.conversations]


@pytest.fixture
async def chats(memory_platform: Platform) -> Chats:
    return Chats(await new_team(memory_platform))


async def test_create_get_and_title_from_the_first_user_message(chats: Chats) -> None:
    conversation = await chats.create()
    assert conversation.title == ""
    assert conversation.user_id == chats.team.owner.user_id

    long_text = "word " * 30 + "tail"
    answer = await chats.append(conversation.id, long_text)
    await chats.append(conversation.id, "a second question")

    got = await chats.stub.GetConversation(
        memory_pb2.GetConversationRequest(id=conversation.id), metadata=chats.team.md(chats.team.owner)
    )
    assert answer.conversation.title == got.conversation.title
    assert got.conversation.title == " ".join(["word"] * 16)  # 16*5-1 = 79 characters, cut between words
    assert got.conversation.HasField("last_message_time")


async def test_given_title_is_kept_and_an_overlong_one_is_bad_input(chats: Chats) -> None:
    conversation = await chats.create("Plans")
    await chats.append(conversation.id, "hello")
    assert await chats.titles() == ["Plans"]

    code, error = await rpc_error(chats.create("x" * 201))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field == "title"


async def test_append_is_idempotent_by_message_id(chats: Chats) -> None:
    conversation = await chats.create()
    message_id = new_id()
    first = await chats.append(conversation.id, "once", message_id=message_id)
    again = await chats.append(conversation.id, "once more", message_id=message_id)

    assert first.message.id == again.message.id == message_id
    assert again.message.content == "once"
    listed = await chats.stub.ListMessages(
        memory_pb2.ListMessagesRequest(conversation_id=conversation.id),
        metadata=chats.team.md(chats.team.owner),
    )
    assert [row.content for row in listed.messages] == ["once"]

    other = await chats.create()
    _, error = await rpc_error(chats.append(other.id, "elsewhere", message_id=message_id))
    assert (error.code, error.field) == (ErrorCode.CONFLICT, "message_id")


async def test_append_rejects_bad_input_naming_the_field(chats: Chats) -> None:
    conversation = await chats.create()
    for fields, field in (
        ({"role": memory_pb2.MESSAGE_ROLE_UNSPECIFIED}, "role"),
        ({"message_id": "not-a-uuid"}, "message_id"),
        ({"content": ""}, "content"),
        ({"output_tokens": -1}, "output_tokens"),
    ):
        request = {"role": USER, "content": "hi", **fields}
        code, error = await rpc_error(
            chats.stub.AppendMessage(
                memory_pb2.AppendMessageRequest(conversation_id=conversation.id, **request),
                metadata=chats.team.md(chats.team.owner),
            )
        )
        assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, field)


async def test_list_pages_newest_activity_first_and_searches_titles(chats: Chats) -> None:
    names = ["Alpha plan", "beta", "Gamma PLAN", "delta"]
    ids = [(await chats.create(name)).id for name in names]
    await chats.append(ids[0], "bump alpha to the top")

    assert await chats.titles() == ["Alpha plan", "delta", "Gamma PLAN", "beta"]
    assert await chats.titles(query="plan") == ["Alpha plan", "Gamma PLAN"]

    seen: list[str] = []
    token = ""
    while True:
        answer = await chats.stub.ListConversations(
            memory_pb2.ListConversationsRequest(
                workspace_id=chats.team.workspace_id,
                page=common_pb2.PageRequest(page_size=3, page_token=token),
            ),
            metadata=chats.team.md(chats.team.owner),
        )
        assert answer.page_info.total_size == 4
        seen += [row.title for row in answer.conversations]
        token = answer.page_info.next_page_token
        if not token:
            break
    assert seen == ["Alpha plan", "delta", "Gamma PLAN", "beta"]


async def test_archive_hides_unless_asked_and_rename(chats: Chats) -> None:
    conversation = await chats.create("old")
    md = chats.team.md(chats.team.owner)
    updated = await chats.stub.UpdateConversation(
        memory_pb2.UpdateConversationRequest(id=conversation.id, title="new", archived=True), metadata=md
    )
    assert updated.conversation.title == "new"
    assert updated.conversation.archived
    assert await chats.titles() == []
    assert await chats.titles(include_archived=True) == ["new"]

    await chats.stub.UpdateConversation(
        memory_pb2.UpdateConversationRequest(id=conversation.id, archived=False), metadata=md
    )
    assert await chats.titles() == ["new"]
    code, error = await rpc_error(
        chats.stub.UpdateConversation(
            memory_pb2.UpdateConversationRequest(id=conversation.id, title="y" * 201), metadata=md
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field == "title"


async def test_delete_removes_the_conversation_and_its_messages(chats: Chats) -> None:
    conversation = await chats.create()
    await chats.append(conversation.id, "hello")
    md = chats.team.md(chats.team.owner)
    await chats.stub.DeleteConversation(memory_pb2.DeleteConversationRequest(id=conversation.id), metadata=md)

    code, _ = await rpc_error(
        chats.stub.GetConversation(memory_pb2.GetConversationRequest(id=conversation.id), metadata=md)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await rpc_error(
        chats.stub.ListMessages(memory_pb2.ListMessagesRequest(conversation_id=conversation.id), metadata=md)
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_messages_page_oldest_first(chats: Chats) -> None:
    conversation = await chats.create()
    for index in range(5):
        await chats.append(conversation.id, f"m{index}")
    seen: list[str] = []
    token = ""
    while True:
        answer = await chats.stub.ListMessages(
            memory_pb2.ListMessagesRequest(
                conversation_id=conversation.id, page=common_pb2.PageRequest(page_size=2, page_token=token)
            ),
            metadata=chats.team.md(chats.team.owner),
        )
        seen += [row.content for row in answer.messages]
        token = answer.page_info.next_page_token
        if not token:
            break
    assert seen == [f"m{index}" for index in range(5)]


async def test_another_user_or_tenant_gets_not_found_and_changes_nothing(
    chats: Chats, memory_platform: Platform
) -> None:
    conversation = await chats.create("mine")
    colleague = await chats.team.join("editor")
    stranger = (await new_team(memory_platform, "Other")).owner

    for person in (colleague, stranger):
        md = chats.team.md(person)
        for call in (
            chats.stub.GetConversation(memory_pb2.GetConversationRequest(id=conversation.id), metadata=md),
            chats.stub.UpdateConversation(
                memory_pb2.UpdateConversationRequest(id=conversation.id, title="theirs"), metadata=md
            ),
            chats.stub.DeleteConversation(
                memory_pb2.DeleteConversationRequest(id=conversation.id), metadata=md
            ),
            chats.append(conversation.id, "intrusion", person=person),
        ):
            code, _ = await rpc_error(call)
            assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await rpc_error(chats.create(person=stranger))  # not a member of the workspace
    assert code == grpc.StatusCode.NOT_FOUND
    assert await chats.titles() == ["mine"]
    colleague_list = await chats.stub.ListConversations(
        memory_pb2.ListConversationsRequest(workspace_id=chats.team.workspace_id),
        metadata=chats.team.md(colleague),
    )
    assert list(colleague_list.conversations) == []


async def test_viewer_may_not_create_a_conversation(chats: Chats) -> None:
    viewer = await chats.team.join("viewer")
    code, error = await rpc_error(chats.create(person=viewer))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert error.code == ErrorCode.FORBIDDEN


async def test_context_keeps_the_system_prompt_and_drops_the_oldest_first(chats: Chats) -> None:
    conversation = await chats.create()
    await chats.append(conversation.id, "a" * 400)  # 100 tokens by chars/4
    await chats.append(conversation.id, "b" * 40, role=ASSISTANT, output_tokens=30)  # stored count wins
    await chats.append(conversation.id, "c" * 80)  # 20 tokens
    md = chats.team.md(chats.team.owner)

    answer = await chats.stub.AssembleContext(
        memory_pb2.AssembleContextRequest(
            conversation_id=conversation.id, context_window=100, max_output_tokens=30, system_prompt="s" * 40
        ),
        metadata=md,
    )
    assert [message.content[:1] for message in answer.messages] == ["s", "b", "c"]
    assert answer.messages[0].role == memory_pb2.MESSAGE_ROLE_SYSTEM
    assert answer.estimated_tokens == 10 + 30 + 20
    assert answer.truncated

    everything = await chats.stub.AssembleContext(
        memory_pb2.AssembleContextRequest(conversation_id=conversation.id, context_window=1000), metadata=md
    )
    assert [message.content[:1] for message in everything.messages] == ["a", "b", "c"]

    tight = await chats.stub.AssembleContext(
        memory_pb2.AssembleContextRequest(conversation_id=conversation.id, context_window=25), metadata=md
    )
    assert [message.content[:1] for message in tight.messages] == ["c"]
    assert tight.truncated
    assert not everything.truncated

    code, error = await rpc_error(
        chats.stub.AssembleContext(
            memory_pb2.AssembleContextRequest(conversation_id=conversation.id), metadata=md
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field == "context_window"


async def test_concurrent_appends_with_one_id_store_one_message(chats: Chats) -> None:
    conversation = await chats.create()
    message_id = new_id()

    answers = await asyncio.gather(
        *(chats.append(conversation.id, f"try {index}", message_id=message_id) for index in range(4))
    )

    assert {answer.message.id for answer in answers} == {message_id}
    assert len({answer.message.content for answer in answers}) == 1
    listed = await chats.stub.ListMessages(
        memory_pb2.ListMessagesRequest(conversation_id=conversation.id),
        metadata=chats.team.md(chats.team.owner),
    )
    assert len(listed.messages) == 1


async def test_conversation_changes_are_audited_in_the_outbox(
    chats: Chats, memory_platform: Platform
) -> None:
    conversation = await chats.create("audited")
    md = chats.team.md(chats.team.owner)
    await chats.stub.UpdateConversation(
        memory_pb2.UpdateConversationRequest(id=conversation.id, archived=True), metadata=md
    )
    await chats.stub.DeleteConversation(memory_pb2.DeleteConversationRequest(id=conversation.id), metadata=md)

    async with db_session(memory_platform) as db:
        rows = await db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.topic == AUDIT_TOPIC, OutboxEvent.service == "memory")
            .order_by(OutboxEvent.id)
        )
        payloads = [row.payload for row in rows if row.payload["resource_id"] == conversation.id]
    assert [payload["action"] for payload in payloads] == [
        "CONVERSATION_CREATED",
        "CONVERSATION_UPDATED",
        "CONVERSATION_DELETED",
    ]
    assert payloads[1]["details"] == {"archived": True}
    assert {payload["actor_user_id"] for payload in payloads} == {chats.team.owner.user_id}


async def test_a_failed_message_may_be_empty_and_one_id_in_two_conversations_conflicts(chats: Chats) -> None:
    first, second = await chats.create(), await chats.create()
    failed = await chats.append(
        first.id, "", role=ASSISTANT, status=memory_pb2.MESSAGE_STATUS_FAILED, model_id="gpt-4o-mini"
    )
    assert failed.message.status == memory_pb2.MESSAGE_STATUS_FAILED
    assert failed.message.model_id == "gpt-4o-mini"

    message_id = new_id()
    outcomes = await asyncio.gather(
        chats.append(first.id, "here", message_id=message_id),
        chats.append(second.id, "there", message_id=message_id),
        return_exceptions=True,
    )
    stored = [outcome for outcome in outcomes if isinstance(outcome, memory_pb2.AppendMessageResponse)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
    assert len(stored) == 1
    assert [error.code() for error in refused] == [grpc.StatusCode.ALREADY_EXISTS]
