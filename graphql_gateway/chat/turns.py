"""Opening a turn's event stream on the chat service for a GraphQL input: a new turn, or a resumed one."""

from __future__ import annotations

from typing import Any

from geko.chat.v1 import chat_pb2
from graphql_gateway.chat.types import ChatInput
from graphql_gateway.context import GatewayContext


def open_turn(ctx: GatewayContext, input: ChatInput) -> Any:
    """The started server-streaming call (StreamChat, or ResumeChat when `input.resume` is set)."""
    if input.resume is not None:
        return ctx.chat.ResumeChat(
            chat_pb2.ResumeChatRequest(
                turn_id=str(input.resume.turn_id), after_sequence=input.resume.after_seq
            ),
            metadata=ctx.metadata(),
        )
    return ctx.chat.StreamChat(
        chat_pb2.StreamChatRequest(
            workspace_id=str(input.workspace_id),
            conversation_id=str(input.conversation_id or ""),
            model_id=input.model,
            message=input.message,
            max_output_tokens=input.max_tokens or 0,
            turn_id=str(input.turn_id or ""),
            system_prompt=input.system_prompt or "",
        ),
        metadata=ctx.metadata(),
    )
