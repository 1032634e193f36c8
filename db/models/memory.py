"""Tables of the memory service (conversations and their messages).

Owned by services/memory: chat and the gateway reach them through MemoryService over gRPC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import UUID_TYPE, Base, BigCount, CreatedAt, IdPk, IdRef, Timestamps, one_of

MESSAGE_ROLES = ("system", "user", "assistant", "tool")
MESSAGE_STATUSES = ("complete", "cut", "failed")


class Conversation(Timestamps, Base):
    """A chat of one user in one workspace. A new message moves `updated_at` too, so it orders the list."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_workspace_id_user_id_updated_at", "workspace_id", "user_id", "updated_at"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[IdRef]
    user_id: Mapped[IdRef]
    title: Mapped[str] = mapped_column(String(200), default="")
    archived_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]


class Message(CreatedAt, Base):
    """One message of a conversation; the writer may choose its id, which makes storing it idempotent."""

    __tablename__ = "messages"
    __table_args__ = (
        one_of("role", MESSAGE_ROLES),
        one_of("status", MESSAGE_STATUSES),
        Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    conversation_id: Mapped[str] = mapped_column(
        UUID_TYPE, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(String(128), default="")
    input_tokens: Mapped[BigCount] = mapped_column(default=0)
    output_tokens: Mapped[BigCount] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="complete")
    turn_id: Mapped[str] = mapped_column(String(64), default="")
    tool_call_id: Mapped[str] = mapped_column(String(128), default="")
    tool_calls_json: Mapped[str] = mapped_column(Text, default="")
