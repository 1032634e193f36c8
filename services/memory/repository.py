"""Reads and writes of conversations and messages (the memory service's own tables only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import ClassManager, configure_mappers

from db.models.base import Base, UTCDateTime
from db.models.memory import Conversation, Message
from services.runtime.errors import BadInput
from services.runtime.sqlite_prepared import prepared

M = TypeVar("M", bound=Base)

_STALE_TOKEN = "page_token no longer points at a listed item; start again from the first page"
# The hot path (a chat turn's AppendMessages) writes with Core statements on the bare tables, in a
# `Database.core_transaction()` (`TurnWriter`): the ORM's unit of work (flush, identity map, refresh) and
# session cost several times the SQL itself. Its objects are built by hand and never join a session.
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
# Built once: building a statement costs more than running it on SQLite. The hot ones run `prepared()`.
_LOCK_CONVERSATION = prepared(
    select(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("id")).with_for_update()
)
_TOUCH_CONVERSATION = prepared(
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        title=bindparam("title"),
        updated_at=bindparam("updated_at"),
        last_message_at=bindparam("last_message_at"),
    )
)
# Moves an existing conversation's activity times without reading it first, only when it is the caller's,
# older than the new messages (:first_at), and titled unless :untitled_ok; its row when so.
_TOUCH_OWNED_CONVERSATION = prepared(
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.id == bindparam("conversation_id"),
        CONVERSATIONS.c.tenant_id == bindparam("tenant"),
        CONVERSATIONS.c.user_id == bindparam("user"),
        CONVERSATIONS.c.workspace_id == bindparam("workspace"),
        or_(
            CONVERSATIONS.c.last_message_at.is_(None),
            CONVERSATIONS.c.last_message_at < bindparam("first_at", type_=UTCDateTime()),
        ),
        or_(CONVERSATIONS.c.title != "", bindparam("untitled_ok", type_=Boolean())),
    )
    .values(updated_at=bindparam("last_at"), last_message_at=bindparam("last_at"))
    .returning(*CONVERSATIONS.columns)
)
_OWNED_CONVERSATION = select(CONVERSATIONS).where(
    CONVERSATIONS.c.id == bindparam("id"),
    CONVERSATIONS.c.tenant_id == bindparam("tenant_id"),
    CONVERSATIONS.c.user_id == bindparam("user_id"),
)
_INSERT_CONVERSATION = prepared(insert(CONVERSATIONS))
_MESSAGES_BY_ID = select(MESSAGES).where(MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_MESSAGES = prepared(insert(MESSAGES))
_A_USER_MESSAGE = prepared(
    select(MESSAGES.c.id)
    .where(MESSAGES.c.conversation_id == bindparam("conversation_id"), MESSAGES.c.role == "user")
    .limit(1)
)
_NEWEST_MESSAGES = (
    select(MESSAGES)
    .where(MESSAGES.c.conversation_id == bindparam("conversation_id"))
    .order_by(MESSAGES.c.created_at.desc(), MESSAGES.c.id.desc())
    .limit(bindparam("limit"))
)


@cache
def _class_manager(model: type[Base]) -> ClassManager[Any]:
    configure_mappers()  # what a model's constructor does first: its attributes get their loaders
    return model.__mapper__.class_manager


def detached(model: type[M], values: Mapping[Any, Any]) -> M:
    """An object of `model` holding `values` (every column), made the way SQLAlchemy's loader makes one it
    read: no attribute event per field, ~2 µs where the constructor takes ~30 (a turn builds several, a
    context reads dozens). For objects that never join a session, like all of this module's."""
    entity: M = _class_manager(model).new_instance()
    entity.__dict__.update(values)
    return entity


def _values(entity: Base, table: Table) -> dict[str, Any]:
    """The column values of an object built with every column (`detached`), for a Core INSERT."""
    fields = entity.__dict__
    return {column.key: fields[column.key] for column in table.columns}


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def owned(self, *, tenant_id: str, user_id: str, conversation_id: str) -> Conversation | None:
        """The conversation when it belongs to this user of this tenant, locked and in the session (to be
        changed or deleted); None otherwise (NOT_FOUND)."""
        query = select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == tenant_id,
            Conversation.user_id == user_id,
        )
        return (await self._session.scalars(query.with_for_update())).one_or_none()

    async def visible(self, *, tenant_id: str, user_id: str, conversation_id: str) -> Conversation | None:
        """`owned` for reading (every chat turn that continues a conversation asks): a detached object."""
        parameters = {"id": conversation_id, "tenant_id": tenant_id, "user_id": user_id}
        row = (await self._session.execute(_OWNED_CONVERSATION, parameters)).mappings().first()
        return None if row is None else detached(Conversation, row)

    async def listed(
        self,
        *,
        tenant_id: str,
        workspace_id: str,
        user_id: str,
        query: str,
        include_archived: bool,
        after_id: str | None,
        limit: int,
    ) -> tuple[Sequence[Conversation], int]:
        """One page of the user's conversations, newest activity (updated_at) first, and the total."""
        scope: list[ColumnElement[bool]] = [
            Conversation.tenant_id == tenant_id,
            Conversation.workspace_id == workspace_id,
            Conversation.user_id == user_id,
        ]
        if query:
            scope.append(func.lower(Conversation.title).contains(query.lower(), autoescape=True))
        if not include_archived:
            scope.append(Conversation.archived_at.is_(None))
        total = int(await self._session.scalar(select(func.count()).where(*scope)) or 0)
        page: Select[Conversation] = select(Conversation).where(*scope)
        if after_id is not None:
            anchor = await self._session.get(Conversation, after_id)
            if anchor is None or anchor.user_id != user_id or anchor.tenant_id != tenant_id:
                raise BadInput(_STALE_TOKEN, field="page.page_token")
            page = page.where(
                or_(
                    Conversation.updated_at < anchor.updated_at,
                    and_(Conversation.updated_at == anchor.updated_at, Conversation.id < anchor.id),
                )
            )
        rows = await self._session.scalars(
            page.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit)
        )
        return rows.all(), total

    async def delete(self, conversation: Conversation) -> None:
        # Explicit for SQLite setups without foreign keys enforced; PostgreSQL's cascade would do the same.
        await self._session.execute(delete(Message).where(Message.conversation_id == conversation.id))
        await self._session.delete(conversation)


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def listed(
        self, *, conversation_id: str, after_id: str | None, limit: int
    ) -> tuple[Sequence[Message], int]:
        """One page of the conversation's messages, oldest first, and the total."""
        scope = Message.conversation_id == conversation_id
        total = int(await self._session.scalar(select(func.count()).where(scope)) or 0)
        page = select(Message).where(scope)
        if after_id is not None:
            anchor = await self._session.get(Message, after_id)
            if anchor is None or anchor.conversation_id != conversation_id:
                raise BadInput(_STALE_TOKEN, field="page.page_token")
            page = page.where(
                or_(
                    Message.created_at > anchor.created_at,
                    and_(Message.created_at == anchor.created_at, Message.id > anchor.id),
                )
            )
        rows = await self._session.scalars(page.order_by(Message.created_at, Message.id).limit(limit))
        return rows.all(), total

    async def newest(self, conversation_id: str, limit: int) -> list[Message]:
        """The conversation's newest `limit` messages, oldest first (detached objects: a chat turn's context
        is read on every turn that continues a conversation)."""
        parameters = {"conversation_id": conversation_id, "limit": limit}
        rows = (await self._session.execute(_NEWEST_MESSAGES, parameters)).mappings().all()
        return [detached(Message, row) for row in reversed(rows)]


class TurnWriter:
    """The statements that store messages and create conversations, on the bare connection of a
    `Database.core_transaction()`; the objects they take and return never join a session."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def locked(self, conversation_id: str) -> Conversation | None:
        """The conversation (anyone's: the caller checks the owner), locked until the transaction ends."""
        row = (await self.connection.execute(_LOCK_CONVERSATION, {"id": conversation_id})).mappings().first()
        return None if row is None else detached(Conversation, row)

    async def insert_conversation(self, conversation: Conversation) -> None:
        await self.connection.execute(_INSERT_CONVERSATION, _values(conversation, CONVERSATIONS))

    async def touch(self, conversation: Conversation) -> None:
        """Writes the fields a new message changes: its title, `updated_at` and `last_message_at`."""
        await self.connection.execute(
            _TOUCH_CONVERSATION,
            {
                "conversation_id": conversation.id,
                "title": conversation.title,
                "updated_at": conversation.updated_at,
                "last_message_at": conversation.last_message_at,
            },
        )

    async def touch_owned(
        self,
        *,
        tenant_id: str,
        user_id: str,
        workspace_id: str,
        conversation_id: str,
        first_at: datetime,
        last_at: datetime,
        untitled_ok: bool,
    ) -> Conversation | None:
        """Moves the conversation's activity times to `last_at` without reading it first, and answers it as
        updated; None, changing nothing, unless it belongs to this user in this workspace, its last message
        is older than `first_at`, and it has a title or `untitled_ok`."""
        parameters = {
            "conversation_id": conversation_id,
            "tenant": tenant_id,
            "user": user_id,
            "workspace": workspace_id,
            "first_at": first_at,
            "last_at": last_at,
            "untitled_ok": untitled_ok,
        }
        row = (await self.connection.execute(_TOUCH_OWNED_CONVERSATION, parameters)).mappings().first()
        return None if row is None else detached(Conversation, row)

    async def messages_by_ids(self, message_ids: Sequence[str]) -> dict[str, Message]:
        """The stored messages among `message_ids` (in any conversation), by id."""
        rows = (await self.connection.execute(_MESSAGES_BY_ID, {"ids": list(message_ids)})).mappings()
        return {row["id"]: detached(Message, row) for row in rows}

    async def has_user_message(self, conversation_id: str) -> bool:
        parameters = {"conversation_id": conversation_id}
        return (await self.connection.scalar(_A_USER_MESSAGE, parameters)) is not None

    async def insert_messages(self, messages: Sequence[Message]) -> None:
        """Stores new messages in one statement."""
        await self.connection.execute(_INSERT_MESSAGES, [_values(message, MESSAGES) for message in messages])
