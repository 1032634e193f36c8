"""Conversations and messages through GraphQL on the embedded platform: listing, search, the archived filter,
cursor paging of conversations and of messages, rename / archive / delete, and another tenant's ids. History
is written the way chat writes it, through MemoryService over gRPC with the member's token; the rules are the
memory service's, these tests pin how the gateway carries them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from services.runtime.ids import new_id
from tests.integration.gateway.team import Member, TeamGateway, team_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONVERSATIONS = """query(
  $ws: ID!, $first: Int, $after: String, $search: String, $archived: Boolean! = false
) {
  conversations(workspaceId: $ws, first: $first, after: $after, search: $search, includeArchived: $archived) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id workspaceId title archived createdAt updatedAt lastMessageAt user { id email } } }
  }
}"""
CONVERSATION = "query($id: ID!) { conversation(id: $id) { id title archived } }"
MESSAGES = """query($id: ID!, $first: Int, $after: String) { conversation(id: $id) {
  messages(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id role content model inputTokens outputTokens status turnId createdAt } }
  }
} }"""
RENAME = """mutation($id: ID!, $title: String!) {
  renameConversation(input: {id: $id, title: $title}) { id title updatedAt }
}"""
ARCHIVE = """mutation($id: ID!, $archived: Boolean!) {
  archiveConversation(input: {id: $id, archived: $archived}) { id archived }
}"""
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"

USER = memory_pb2.MESSAGE_ROLE_USER
ASSISTANT = memory_pb2.MESSAGE_ROLE_ASSISTANT


@dataclass
class Scene:
    gateway: TeamGateway
    memory: memory_pb2_grpc.MemoryServiceStub
    owner: Member
    workspace_id: str
    stranger: Member  # the owner of another tenant

    async def conversation(self, *messages: str, title: str = "") -> str:
        """A new conversation of the owner's with `messages` (user messages, in order); its id."""
        metadata = bearer(self.owner)
        created = await self.memory.CreateConversation(
            memory_pb2.CreateConversationRequest(workspace_id=self.workspace_id, title=title),
            metadata=metadata,
        )
        for content in messages:
            request = memory_pb2.AppendMessageRequest(
                conversation_id=created.conversation.id, role=USER, content=content
            )
            await self.memory.AppendMessage(request, metadata=metadata)
        return created.conversation.id

    async def listed(self, **variables: Any) -> dict[str, Any]:
        data = await self.gateway.data(CONVERSATIONS, self.owner.token, ws=self.workspace_id, **variables)
        connection: dict[str, Any] = data["conversations"]
        return connection


def bearer(member: Member) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {member.token}")]


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


def titles(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["title"] for edge in connection["edges"]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Scene]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir: Path = tmp_path_factory.mktemp("conversations")
    async with (
        team_gateway(database_url, data_dir, redis_url if use_redis else None) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.platform.grpc_port}") as channel,
    ):
        owner = await gateway.register("Acme")
        workspace_id = await gateway.create_workspace(owner.token, "Chats")
        stranger = await gateway.register("Rival")
        yield Scene(gateway, memory_pb2_grpc.MemoryServiceStub(channel), owner, workspace_id, stranger)


async def test_lists_most_recently_active_first_with_the_owner_and_pages_by_cursor(scene: Scene) -> None:
    workspace_id = await scene.gateway.create_workspace(scene.owner.token, "Paging")
    scene = replace(scene, workspace_id=workspace_id)
    for n in range(5):
        await scene.conversation(f"question {n}")

    everything = await scene.listed(first=10)
    assert titles(everything) == [f"question {n}" for n in reversed(range(5))]
    assert everything["totalCount"] == 5
    first = everything["edges"][0]["node"]
    assert first["workspaceId"] == workspace_id
    assert first["user"] == {"id": scene.owner.user_id, "email": scene.owner.email}
    assert first["archived"] is False
    assert first["lastMessageAt"] is not None

    walked: list[str] = []
    after = None
    while True:
        page = await scene.listed(first=2, after=after)
        assert len(page["edges"]) <= 2
        assert page["totalCount"] == 5
        walked.extend(titles(page))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert walked == titles(everything)


async def test_search_matches_part_of_the_title_in_any_case(scene: Scene) -> None:
    tag = new_id()[-8:]
    wanted = await scene.conversation(f"Plan the {tag.upper()} launch")
    await scene.conversation(f"Lunch {tag[:4]} ideas")

    found = await scene.listed(search=f"the {tag.lower()}")

    assert [edge["node"]["id"] for edge in found["edges"]] == [wanted]
    assert found["totalCount"] == 1


async def test_archived_conversations_are_listed_only_when_asked(scene: Scene) -> None:
    tag = new_id()[-8:]
    kept = await scene.conversation(f"kept {tag}")
    archived = await scene.conversation(f"archived {tag}")

    answer = await scene.gateway.data(ARCHIVE, scene.owner.token, id=archived, archived=True)
    assert answer["archiveConversation"] == {"id": archived, "archived": True}

    default = await scene.listed(search=tag)
    assert [edge["node"]["id"] for edge in default["edges"]] == [kept]
    everything = await scene.listed(search=tag, archived=True)
    assert {edge["node"]["id"]: edge["node"]["archived"] for edge in everything["edges"]} == {
        kept: False,
        archived: True,
    }

    await scene.gateway.data(ARCHIVE, scene.owner.token, id=archived, archived=False)
    assert len((await scene.listed(search=tag))["edges"]) == 2


async def test_messages_page_in_the_order_they_were_written_with_their_fields(scene: Scene) -> None:
    conversation_id = await scene.conversation("first question")
    turn_id = new_id()
    answer = memory_pb2.AppendMessageRequest(
        conversation_id=conversation_id,
        role=ASSISTANT,
        content="a partial answer",
        model_id="gpt-4o-mini",
        input_tokens=12,
        output_tokens=3,
        status=memory_pb2.MESSAGE_STATUS_CUT,
        turn_id=turn_id,
    )
    await scene.memory.AppendMessage(answer, metadata=bearer(scene.owner))
    for n in range(3):
        request = memory_pb2.AppendMessageRequest(
            conversation_id=conversation_id, role=USER, content=f"more {n}"
        )
        await scene.memory.AppendMessage(request, metadata=bearer(scene.owner))

    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = await scene.gateway.data(MESSAGES, scene.owner.token, id=conversation_id, first=2, after=after)
        page = data["conversation"]["messages"]
        assert page["totalCount"] == 5
        nodes.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert [node["content"] for node in nodes] == [
        "first question",
        "a partial answer",
        "more 0",
        "more 1",
        "more 2",
    ]
    assert len({node["id"] for node in nodes}) == 5
    question, partial = nodes[0], nodes[1]
    assert (question["role"], question["model"], question["status"], question["turnId"]) == (
        "USER",
        None,
        "COMPLETE",
        None,
    )
    assert partial | {"id": None, "createdAt": None} == {
        "id": None,
        "role": "ASSISTANT",
        "content": "a partial answer",
        "model": "gpt-4o-mini",
        "inputTokens": 12,
        "outputTokens": 3,
        "status": "CUT",
        "turnId": turn_id,
        "createdAt": None,
    }


async def test_rename_sets_the_title_and_refuses_a_blank_or_overlong_one(scene: Scene) -> None:
    conversation_id = await scene.conversation("what is a gecko")

    renamed = await scene.gateway.data(RENAME, scene.owner.token, id=conversation_id, title="  Geckos  ")
    assert renamed["renameConversation"]["title"] == "Geckos"

    blank = await scene.gateway.graphql(RENAME, scene.owner.token, id=conversation_id, title="   ")
    assert error_of(blank) == {"code": "BAD_USER_INPUT", "field": "input.title"}
    overlong = await scene.gateway.graphql(RENAME, scene.owner.token, id=conversation_id, title="x" * 201)
    assert error_of(overlong) == {"code": "BAD_USER_INPUT", "field": "input.title"}

    kept = await scene.gateway.data(CONVERSATION, scene.owner.token, id=conversation_id)
    assert kept["conversation"]["title"] == "Geckos"


async def test_a_deleted_conversation_is_not_found_afterwards(scene: Scene) -> None:
    conversation_id = await scene.conversation("short-lived")

    assert (await scene.gateway.data(DELETE, scene.owner.token, id=conversation_id)) == {
        "deleteConversation": True
    }

    assert await scene.gateway.code(CONVERSATION, scene.owner.token, id=conversation_id) == "NOT_FOUND"
    assert await scene.gateway.code(DELETE, scene.owner.token, id=conversation_id) == "NOT_FOUND"
    listed = await scene.listed(search="short-lived")
    assert listed["edges"] == []


async def test_another_tenant_gets_not_found_for_everything_and_changes_nothing(scene: Scene) -> None:
    conversation_id = await scene.conversation("private matters")
    before = await scene.gateway.data(MESSAGES, scene.owner.token, id=conversation_id)
    stranger = scene.stranger.token

    shown = await scene.gateway.graphql(CONVERSATION, stranger, id=conversation_id)
    assert error_of(shown)["code"] == "NOT_FOUND"
    assert shown["data"] == {"conversation": None}
    attempts = {
        "messages": await scene.gateway.code(MESSAGES, stranger, id=conversation_id),
        "conversations": await scene.gateway.code(CONVERSATIONS, stranger, ws=scene.workspace_id),
        "rename": await scene.gateway.code(RENAME, stranger, id=conversation_id, title="mine now"),
        "archive": await scene.gateway.code(ARCHIVE, stranger, id=conversation_id, archived=True),
        "delete": await scene.gateway.code(DELETE, stranger, id=conversation_id),
    }
    assert attempts == dict.fromkeys(attempts, "NOT_FOUND")

    after = await scene.gateway.data(MESSAGES, scene.owner.token, id=conversation_id)
    assert after == before
    kept = await scene.gateway.data(CONVERSATION, scene.owner.token, id=conversation_id)
    assert kept["conversation"] == {"id": conversation_id, "title": "private matters", "archived": False}


async def test_bad_paging_arguments_name_the_argument(scene: Scene) -> None:
    too_many = await scene.gateway.graphql(CONVERSATIONS, scene.owner.token, ws=scene.workspace_id, first=0)
    assert error_of(too_many) == {"code": "BAD_USER_INPUT", "field": "first"}
    garbage = await scene.gateway.graphql(
        CONVERSATIONS, scene.owner.token, ws=scene.workspace_id, after="not a cursor!"
    )
    assert error_of(garbage) == {"code": "BAD_USER_INPUT", "field": "after"}
