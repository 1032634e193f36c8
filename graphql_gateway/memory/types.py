"""GraphQL types of conversations and messages, each built from its `geko.memory.v1` message. A
conversation's messages are a field with its own resolver, so a list of conversations costs one call."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from geko.memory.v1 import memory_pb2
from graphql_gateway.auth.types import User
from graphql_gateway.common import to_datetime, to_optional_datetime
from graphql_gateway.connections import Connection, paging_arguments, window
from graphql_gateway.context import IsAuthenticated, context_of


@strawberry.enum(description="Who wrote a message.")
class MessageRole(Enum):
    SYSTEM = "SYSTEM"
    USER = "USER"
    ASSISTANT = "ASSISTANT"
    TOOL = "TOOL"


@strawberry.enum(description="How a message's writing ended.")
class MessageStatus(Enum):
    COMPLETE = "COMPLETE"
    CUT = strawberry.enum_value(
        "CUT", description="The stream stopped early (client gone or cancelled): what was produced."
    )
    FAILED = "FAILED"


@strawberry.type(description="One message of a conversation.")
class Message:
    id: strawberry.ID
    role: MessageRole
    content: str
    model: str | None = strawberry.field(description="Id of the model that wrote it; null for others.")
    input_tokens: int
    output_tokens: int
    status: MessageStatus
    turn_id: str | None = strawberry.field(description="The chat turn that produced it.")
    created_at: datetime

    @classmethod
    def from_proto(cls, message: memory_pb2.Message) -> Message:
        return cls(
            id=strawberry.ID(message.id),
            role=MessageRole(memory_pb2.MessageRole.Name(message.role).removeprefix("MESSAGE_ROLE_")),
            content=message.content,
            model=message.model_id or None,
            input_tokens=message.input_tokens,
            output_tokens=message.output_tokens,
            status=MessageStatus(
                memory_pb2.MessageStatus.Name(message.status).removeprefix("MESSAGE_STATUS_")
            ),
            turn_id=message.turn_id or None,
            created_at=to_datetime(message.create_time),
        )


@strawberry.type(description="A chat of one member in a workspace; only its creator sees it.")
class Conversation:
    id: strawberry.ID
    workspace_id: strawberry.ID
    title: str = strawberry.field(description="Taken from the first message unless given; empty before it.")
    archived: bool
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None = strawberry.field(description="Null while there is no message.")
    user_id: strawberry.Private[str]

    @strawberry.field(description="The owner; null only when the account no longer exists.")
    async def user(self, info: Info) -> User | None:
        return await context_of(info).users.load(self.user_id)

    @strawberry.field(
        description="Messages in the order they were written.", permission_classes=[IsAuthenticated]
    )
    async def messages(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Message]:
        ctx = context_of(info)
        seen = window(first, after)
        request = memory_pb2.ListMessagesRequest(conversation_id=self.id, page=seen.page_request())
        with paging_arguments():
            response = await ctx.memory.ListMessages(request, metadata=ctx.metadata())
        messages = [Message.from_proto(message) for message in response.messages]
        return Connection.from_page(messages, response.page_info, seen)

    @classmethod
    def from_proto(cls, conversation: memory_pb2.Conversation) -> Conversation:
        return cls(
            id=strawberry.ID(conversation.id),
            workspace_id=strawberry.ID(conversation.workspace_id),
            title=conversation.title,
            archived=conversation.archived,
            created_at=to_datetime(conversation.create_time),
            updated_at=to_datetime(conversation.update_time),
            last_message_at=to_optional_datetime(conversation.last_message_time),
            user_id=conversation.user_id,
        )


@strawberry.input
class RenameConversationInput:
    id: strawberry.ID
    title: str = strawberry.field(description="Not blank; at most 200 characters.")


@strawberry.input
class ArchiveConversationInput:
    id: strawberry.ID
    archived: bool = strawberry.field(description="False brings an archived conversation back.")
