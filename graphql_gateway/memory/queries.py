"""Memory queries: the caller's conversations in a workspace, and one conversation. The memory service
decides what the caller may see; another user's or tenant's conversation is NOT_FOUND there."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.memory.v1 import memory_pb2
from graphql_gateway.connections import Connection, paging_arguments, window
from graphql_gateway.context import IsAuthenticated, context_of
from graphql_gateway.memory.types import Conversation

# The memory service's names of request fields, as the arguments of `conversations` call them.
ARGUMENTS = {"workspace_id": "workspaceId", "query": "search"}


@strawberry.type
class MemoryQueries:
    @strawberry.field(
        description=(
            "The caller's conversations in a workspace, most recently active first (needs chat:view:own); "
            "`search` matches a part of the title, any case; archived ones only with `includeArchived`."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def conversations(
        self,
        info: Info,
        workspace_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        include_archived: bool = False,
    ) -> Connection[Conversation]:
        ctx = context_of(info)
        seen = window(first, after)
        request = memory_pb2.ListConversationsRequest(
            workspace_id=str(workspace_id),
            page=seen.page_request(),
            query=search or "",
            include_archived=include_archived,
        )
        with paging_arguments(ARGUMENTS):
            response = await ctx.memory.ListConversations(request, metadata=ctx.metadata())
        conversations = [Conversation.from_proto(conversation) for conversation in response.conversations]
        return Connection.from_page(conversations, response.page_info, seen)

    @strawberry.field(
        description="One conversation of the caller's (needs chat:view:own); NOT_FOUND for any other id.",
        permission_classes=[IsAuthenticated],
    )
    async def conversation(self, info: Info, id: strawberry.ID) -> Conversation | None:
        ctx = context_of(info)
        request = memory_pb2.GetConversationRequest(id=str(id))
        response = await ctx.memory.GetConversation(request, metadata=ctx.metadata())
        return Conversation.from_proto(response.conversation)
