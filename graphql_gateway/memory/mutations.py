"""Memory mutations: rename, archive and delete one of the caller's conversations. Conversations are
created, and their messages written, by chat turns (`chat`, `sendMessage`)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.memory.v1 import memory_pb2
from graphql_gateway.connections import paging_arguments
from graphql_gateway.context import GatewayContext, IsAuthenticated, context_of
from graphql_gateway.memory.types import ArchiveConversationInput, Conversation, RenameConversationInput
from services.runtime.errors import BadInput

# The memory service's names of request fields, as the inputs call them.
INPUT_FIELDS = {"id": "input.id", "title": "input.title", "archived": "input.archived"}


async def _update(ctx: GatewayContext, request: memory_pb2.UpdateConversationRequest) -> Conversation:
    with paging_arguments(INPUT_FIELDS):
        response = await ctx.memory.UpdateConversation(request, metadata=ctx.metadata())
    return Conversation.from_proto(response.conversation)


@strawberry.type
class MemoryMutations:
    @strawberry.mutation(
        description="Gives one of the caller's conversations a new title (needs chat:create).",
        permission_classes=[IsAuthenticated],
    )
    async def rename_conversation(self, info: Info, input: RenameConversationInput) -> Conversation:
        # The service takes an empty title as "set it from the first message"; a rename names it.
        if not input.title.strip():
            raise BadInput("title must not be blank", field="input.title")
        request = memory_pb2.UpdateConversationRequest(id=str(input.id), title=input.title)
        return await _update(context_of(info), request)

    @strawberry.mutation(
        description="Archives one of the caller's conversations, or brings it back (needs chat:create).",
        permission_classes=[IsAuthenticated],
    )
    async def archive_conversation(self, info: Info, input: ArchiveConversationInput) -> Conversation:
        request = memory_pb2.UpdateConversationRequest(id=str(input.id), archived=input.archived)
        return await _update(context_of(info), request)

    @strawberry.mutation(
        description="Deletes one of the caller's conversations and its messages for good "
        "(needs chat:delete).",
        permission_classes=[IsAuthenticated],
    )
    async def delete_conversation(self, info: Info, id: strawberry.ID) -> bool:
        ctx = context_of(info)
        request = memory_pb2.DeleteConversationRequest(id=str(id))
        await ctx.memory.DeleteConversation(request, metadata=ctx.metadata())
        return True
