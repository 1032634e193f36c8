"""MemoryService over gRPC: proto in, domain call (conversations.py), proto out."""

from __future__ import annotations

from typing import Any

from db.models.memory import Conversation, Message
from geko.common.v1 import common_pb2
from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from services.memory.conversations import MemoryService, NewMessage
from services.runtime.access import WorkspaceAccess
from services.runtime.errors import BadInput
from services.runtime.ids import parse_id
from services.runtime.messages import timestamp
from services.runtime.paging import Page
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.types import ServicerContext

SERVICE_NAME = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name

_ROLES = {
    memory_pb2.MESSAGE_ROLE_SYSTEM: "system",
    memory_pb2.MESSAGE_ROLE_USER: "user",
    memory_pb2.MESSAGE_ROLE_ASSISTANT: "assistant",
    memory_pb2.MESSAGE_ROLE_TOOL: "tool",
}
_ROLE_ENUMS = {name: role for role, name in _ROLES.items()}
_STATUSES = {
    memory_pb2.MESSAGE_STATUS_COMPLETE: "complete",
    memory_pb2.MESSAGE_STATUS_CUT: "cut",
    memory_pb2.MESSAGE_STATUS_FAILED: "failed",
}
_STATUS_ENUMS = {name: status for status, name in _STATUSES.items()}


def conversation_message(conversation: Conversation) -> memory_pb2.Conversation:
    return memory_pb2.Conversation(
        id=conversation.id,
        tenant_id=conversation.tenant_id,
        workspace_id=conversation.workspace_id,
        user_id=conversation.user_id,
        title=conversation.title,
        archived=conversation.archived_at is not None,
        create_time=timestamp(conversation.created_at),
        update_time=timestamp(conversation.updated_at),
        last_message_time=timestamp(conversation.last_message_at),
    )


def message_message(message: Message) -> memory_pb2.Message:
    return memory_pb2.Message(
        id=message.id,
        conversation_id=message.conversation_id,
        role=_ROLE_ENUMS[message.role],
        content=message.content,
        model_id=message.model_id,
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
        status=_STATUS_ENUMS[message.status],
        turn_id=message.turn_id,
        tool_call_id=message.tool_call_id,
        tool_calls_json=message.tool_calls_json,
        create_time=timestamp(message.created_at),
    )


def _page_info(page: Page[Any]) -> common_pb2.PageInfo:
    return common_pb2.PageInfo(next_page_token=page.next_page_token, total_size=page.total_size)


def _new_message(request: memory_pb2.AppendMessageRequest, field_prefix: str = "") -> NewMessage:
    """The message to store; errors name `field_prefix` + the field (`messages[1].role` in a batch)."""
    if request.role not in _ROLES:
        raise BadInput("role must be system, user, assistant or tool", field=f"{field_prefix}role")
    if request.input_tokens < 0 or request.output_tokens < 0:
        raise BadInput(
            "token counts must not be negative",
            field=field_prefix + ("input_tokens" if request.input_tokens < 0 else "output_tokens"),
        )
    return NewMessage(
        message_id=request.message_id,
        role=_ROLES[request.role],
        content=request.content,
        model_id=request.model_id,
        input_tokens=request.input_tokens,
        output_tokens=request.output_tokens,
        # Unspecified reads as complete: most writers store finished messages.
        status=_STATUSES.get(request.status, "complete"),
        turn_id=request.turn_id,
        tool_call_id=request.tool_call_id,
        tool_calls_json=request.tool_calls_json,
    )


def _turn_messages(request: memory_pb2.AppendMessagesRequest) -> list[NewMessage]:
    """The batch's messages; each names the request's conversation or none (AIP-233)."""
    messages: list[NewMessage] = []
    for index, message in enumerate(request.messages):
        prefix = f"messages[{index}]."
        if message.conversation_id and parse_id(message.conversation_id) != parse_id(request.conversation_id):
            raise BadInput("must be empty or the request's conversation_id", field=f"{prefix}conversation_id")
        messages.append(_new_message(message, prefix))
    return messages


class MemoryServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory

    async def CreateConversation(
        self, request: memory_pb2.CreateConversationRequest, context: ServicerContext
    ) -> memory_pb2.CreateConversationResponse:
        conversation = await self._memory.create(
            workspace_id=request.workspace_id, title=request.title, conversation_id=request.conversation_id
        )
        return memory_pb2.CreateConversationResponse(conversation=conversation_message(conversation))

    async def GetConversation(
        self, request: memory_pb2.GetConversationRequest, context: ServicerContext
    ) -> memory_pb2.GetConversationResponse:
        conversation = await self._memory.get(request.id)
        return memory_pb2.GetConversationResponse(conversation=conversation_message(conversation))

    async def ListConversations(
        self, request: memory_pb2.ListConversationsRequest, context: ServicerContext
    ) -> memory_pb2.ListConversationsResponse:
        page = await self._memory.list_mine(
            workspace_id=request.workspace_id,
            query=request.query,
            include_archived=request.include_archived,
            size=request.page.page_size,
            token=request.page.page_token,
        )
        return memory_pb2.ListConversationsResponse(
            conversations=[conversation_message(row) for row in page.items], page_info=_page_info(page)
        )

    async def UpdateConversation(
        self, request: memory_pb2.UpdateConversationRequest, context: ServicerContext
    ) -> memory_pb2.UpdateConversationResponse:
        conversation = await self._memory.update(
            request.id,
            title=request.title if request.HasField("title") else None,
            archived=request.archived if request.HasField("archived") else None,
        )
        return memory_pb2.UpdateConversationResponse(conversation=conversation_message(conversation))

    async def DeleteConversation(
        self, request: memory_pb2.DeleteConversationRequest, context: ServicerContext
    ) -> memory_pb2.DeleteConversationResponse:
        await self._memory.delete(request.id)
        return memory_pb2.DeleteConversationResponse()

    async def AppendMessage(
        self, request: memory_pb2.AppendMessageRequest, context: ServicerContext
    ) -> memory_pb2.AppendMessageResponse:
        message, conversation = await self._memory.append(request.conversation_id, _new_message(request))
        return memory_pb2.AppendMessageResponse(
            message=message_message(message), conversation=conversation_message(conversation)
        )

    async def AppendMessages(
        self, request: memory_pb2.AppendMessagesRequest, context: ServicerContext
    ) -> memory_pb2.AppendMessagesResponse:
        messages, conversation = await self._memory.append_turn(
            workspace_id=request.workspace_id,
            conversation_id=request.conversation_id,
            create=request.create_conversation,
            title=request.title,
            messages=_turn_messages(request),
        )
        return memory_pb2.AppendMessagesResponse(
            messages=[message_message(row) for row in messages],
            conversation=conversation_message(conversation),
        )

    async def ListMessages(
        self, request: memory_pb2.ListMessagesRequest, context: ServicerContext
    ) -> memory_pb2.ListMessagesResponse:
        page = await self._memory.messages(
            request.conversation_id, size=request.page.page_size, token=request.page.page_token
        )
        return memory_pb2.ListMessagesResponse(
            messages=[message_message(row) for row in page.items], page_info=_page_info(page)
        )

    async def AssembleContext(
        self, request: memory_pb2.AssembleContextRequest, context: ServicerContext
    ) -> memory_pb2.AssembleContextResponse:
        assembled = await self._memory.context(
            request.conversation_id,
            context_window=request.context_window,
            max_output_tokens=request.max_output_tokens,
            system_prompt=request.system_prompt,
        )
        messages = [message_message(row) for row in assembled.messages]
        if request.system_prompt:
            system = memory_pb2.Message(
                conversation_id=request.conversation_id,
                role=memory_pb2.MESSAGE_ROLE_SYSTEM,
                content=request.system_prompt,
                status=memory_pb2.MESSAGE_STATUS_COMPLETE,
            )
            messages.insert(0, system)
        return memory_pb2.AssembleContextResponse(
            messages=messages, estimated_tokens=assembled.estimated_tokens, truncated=assembled.truncated
        )


def create(deps: ServiceDeps) -> ServiceRegistration:
    memory = MemoryService(deps.database, WorkspaceAccess(deps.channels, deps.backends.cache))
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=MemoryServicer(memory),
        add_to_server=memory_pb2_grpc.add_MemoryServiceServicer_to_server,
    )
