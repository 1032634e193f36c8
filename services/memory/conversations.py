"""The memory service's rules: conversations belong to their creator in their workspace; messages are stored
idempotently by id; context is the newest history that fits a model's window.

Access (first cut): only the creator reads or changes a conversation, and only while they still hold the
permission in its workspace (asked of WorkspaceService.CheckPermission with the caller's token): chat:view:own
to read, chat:create to write, chat:delete to delete. Anything of another tenant or another user is NOT_FOUND;
chat:view:workspace (reading colleagues' chats) is not served yet.
Conversation changes are audited; messages are not (they are the content itself, and chat's usage records
account for them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models.memory import Conversation, Message
from services.events.audit import record_audit
from services.memory.context import Context, assemble
from services.memory.repository import ConversationRepository, MessageRepository, TurnWriter, detached
from services.memory.titles import title_from_message, valid_title
from services.runtime.access import WorkspaceAccess, canonical_workspace_id, require_user
from services.runtime.clock import utcnow
from services.runtime.context import Principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, Conflict, NotFound
from services.runtime.ids import named_id, new_id, parse_id
from services.runtime.paging import Page, decode_page_token, encode_page_token, page_size

SERVICE = "memory"
CONVERSATION_NOT_FOUND = "conversation not found"
VIEW = "chat:view:own"
WRITE = "chat:create"
DELETE = "chat:delete"
MAX_TURN_MESSAGES = 50

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What AppendMessage stores; `message_id` empty lets the server choose."""

    message_id: str
    role: str
    content: str
    model_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    status: str = "complete"
    turn_id: str = ""
    tool_call_id: str = ""
    tool_calls_json: str = ""


# (message id, the message, the field naming its id in errors): what `_store` stores.
Item = tuple[str, NewMessage, str]


def _checked_message_id(new: NewMessage, field_prefix: str) -> str:
    """The message's canonical id (empty lets the server choose), once its id and content are valid; errors
    name `field_prefix` + the field (`messages[1].content` in a batch)."""
    message_id = new.message_id.strip() and parse_id(new.message_id)
    if message_id is None:
        raise BadInput("message_id must be a UUID (or empty)", field=f"{field_prefix}message_id")
    if not new.content and not new.tool_calls_json and new.status == "complete":
        raise BadInput(
            "content is required (only a cut or failed message may be empty)", field=f"{field_prefix}content"
        )
    return message_id


def _message(
    principal: Principal, conversation_id: str, previous: datetime | None, message_id: str, new: NewMessage
) -> Message:
    """The message to store, created strictly after `previous` (the conversation's last one), so that
    messages stored in one call keep their order."""
    now = utcnow()
    return detached(
        Message,
        {
            "id": message_id,
            "tenant_id": principal.tenant_id,
            "conversation_id": conversation_id,
            "role": new.role,
            # PostgreSQL text cannot hold NUL; a model may still emit one. The rest of the answer is kept.
            "content": new.content.replace("\x00", ""),
            "model_id": new.model_id,
            "input_tokens": new.input_tokens,
            "output_tokens": new.output_tokens,
            "status": new.status,
            "turn_id": new.turn_id,
            "tool_call_id": new.tool_call_id,
            "tool_calls_json": new.tool_calls_json,
            "created_at": now if previous is None or now > previous else previous + timedelta(microseconds=1),
        },
    )


class _Unconfirmed(Exception):
    """A first try's guess about the conversation it adds to did not hold (see `_append_unread`)."""


async def _optimistically(store: Callable[[bool], Awaitable[T]], conflict: Conflict) -> T:
    """`store(False)`, which lets the primary key find a message id (or a conversation to create) stored
    already and guesses the rest — a replay is rare, so the common write saves the look-ups —, then, on a
    key conflict or a wrong guess, `store(True)`, which looks them up and answers what is stored;
    `conflict` when that meets a conflict too (a concurrent writer)."""
    try:
        return await store(False)
    except (IntegrityError, _Unconfirmed):
        pass
    try:
        return await store(True)
    except IntegrityError:
        raise conflict from None


def _conversation_id(raw: str) -> str:
    return named_id(raw, field="id", not_found=CONVERSATION_NOT_FOUND, label="conversation id")


class MemoryService:
    def __init__(self, database: Database, access: WorkspaceAccess) -> None:
        self._db = database
        self._access = access

    async def _owned(self, raw_id: str, permission: str) -> tuple[Principal, Conversation]:
        """The caller's conversation, once they hold `permission` in its workspace (read outside any write
        transaction: the permission check is a gRPC call)."""
        conversation_id = _conversation_id(raw_id)
        principal = require_user()
        async with self._db.session() as session:
            conversation = await ConversationRepository(session).visible(
                tenant_id=principal.tenant_id, user_id=principal.user_id, conversation_id=conversation_id
            )
        if conversation is None:
            raise NotFound(CONVERSATION_NOT_FOUND)
        await self._access.require(conversation.workspace_id, permission)
        return principal, conversation

    async def create(self, *, workspace_id: str, title: str, conversation_id: str = "") -> Conversation:
        """A new conversation of the caller; with `conversation_id` (chosen by chat before storing it), a
        repeated create answers the one stored, and an id that is someone else's is a CONFLICT."""
        principal = await self._access.require(workspace_id, WRITE)
        workspace_id = canonical_workspace_id(workspace_id)
        chosen = parse_id(conversation_id) if conversation_id.strip() else new_id()
        if chosen is None:
            raise BadInput("conversation_id is not a UUID", field="conversation_id")
        async with self._db.core_transaction() as connection:
            conversation, new = await self._claim(
                connection, principal, workspace_id, chosen, title=valid_title(title), create=True
            )
            if new:
                await self._insert(connection, principal, conversation)
        return conversation

    async def _claim(
        self,
        connection: AsyncConnection,
        principal: Principal,
        workspace_id: str,
        conversation_id: str,
        *,
        title: str,
        create: bool,
        look_up: bool = True,
    ) -> tuple[Conversation, bool]:
        """The caller's conversation `conversation_id` in the workspace, locked for writing, and whether it
        is new: when missing and `create` is set, a new one to store with `_insert`. Someone else's is a
        CONFLICT when creating (the id is taken) and NOT_FOUND otherwise, as is a missing one. Without
        `look_up` (only when creating), it is taken to be new: storing it fails on the primary key when it
        is not."""
        existing = await TurnWriter(connection).locked(conversation_id) if look_up else None
        if existing is not None:
            owner = (existing.tenant_id, existing.user_id, existing.workspace_id)
            if owner == (principal.tenant_id, principal.user_id, workspace_id):
                return existing, False
            if create:
                raise Conflict("conversation_id is taken", field="conversation_id")
        if not create:
            raise NotFound(CONVERSATION_NOT_FOUND)
        now = utcnow()
        values = {
            "id": conversation_id,
            "tenant_id": principal.tenant_id,
            "workspace_id": workspace_id,
            "user_id": principal.user_id,
            "title": title,
            "archived_at": None,
            "last_message_at": None,
            "created_at": now,
            "updated_at": now,
        }
        return detached(Conversation, values), True

    async def _insert(
        self, connection: AsyncConnection, principal: Principal, conversation: Conversation
    ) -> None:
        """Stores a new conversation from `_claim`, audited."""
        await TurnWriter(connection).insert_conversation(conversation)
        await self._audit(connection, principal, conversation, "CONVERSATION_CREATED")

    async def get(self, conversation_id: str) -> Conversation:
        return (await self._owned(conversation_id, VIEW))[1]

    async def list_mine(
        self, *, workspace_id: str, query: str, include_archived: bool, size: int, token: str
    ) -> Page[Conversation]:
        principal = await self._access.require(workspace_id, VIEW)
        limit = page_size(size)
        after_id = decode_page_token(token)
        async with self._db.session() as session:
            rows, total = await ConversationRepository(session).listed(
                tenant_id=principal.tenant_id,
                workspace_id=canonical_workspace_id(workspace_id),
                user_id=principal.user_id,
                query=query.strip(),
                include_archived=include_archived,
                after_id=after_id,
                limit=limit + 1,
            )
        items = list(rows[:limit])
        next_token = encode_page_token(items[-1].id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    async def update(self, conversation_id: str, *, title: str | None, archived: bool | None) -> Conversation:
        principal, found = await self._owned(conversation_id, WRITE)
        new_title = valid_title(title) if title is not None else None
        async with self._db.transaction() as session:
            conversation = await ConversationRepository(session).owned(
                tenant_id=principal.tenant_id, user_id=principal.user_id, conversation_id=found.id
            )
            if conversation is None:
                raise NotFound(CONVERSATION_NOT_FOUND)
            changed: dict[str, object] = {}
            if new_title is not None and new_title != conversation.title:
                conversation.title = changed["title"] = new_title
            if archived is not None and archived != (conversation.archived_at is not None):
                conversation.archived_at = utcnow() if archived else None
                changed["archived"] = archived
            if changed:
                await session.flush()
                await self._audit(session, principal, conversation, "CONVERSATION_UPDATED", changed)
        return conversation

    async def delete(self, conversation_id: str) -> None:
        principal, found = await self._owned(conversation_id, DELETE)
        async with self._db.transaction() as session:
            repository = ConversationRepository(session)
            conversation = await repository.owned(
                tenant_id=principal.tenant_id, user_id=principal.user_id, conversation_id=found.id
            )
            if conversation is None:
                raise NotFound(CONVERSATION_NOT_FOUND)
            await self._audit(session, principal, conversation, "CONVERSATION_DELETED")
            await repository.delete(conversation)

    async def append(self, conversation_id: str, new: NewMessage) -> tuple[Message, Conversation]:
        """Stores the message unless one with its id is already in this conversation (then that one is
        returned unchanged); sets an empty title from the first user message."""
        principal, found = await self._owned(conversation_id, WRITE)
        message_id = _checked_message_id(new, field_prefix="")
        # A conflict: another conversation stored this id between the look-up and the insert (this
        # conversation's own appends are serialised by its row lock, so they find the message instead).
        [message], conversation = await self._store(
            principal,
            found.workspace_id,
            found.id,
            create=False,
            title="",
            items=[(message_id, new, "message_id")],
            conflict=Conflict("message_id is already used by another message", field="message_id"),
        )
        return message, conversation

    async def append_turn(
        self,
        *,
        workspace_id: str,
        conversation_id: str,
        create: bool,
        title: str,
        messages: Sequence[NewMessage],
    ) -> tuple[list[Message], Conversation]:
        """Stores a chat turn's messages in order, in one transaction after one permission check, creating
        the conversation first when `create` is set (as `create` with a chosen id). Each message is
        idempotent by its id as in `append`, so a replayed turn stores nothing twice."""
        if not conversation_id.strip():
            raise BadInput("conversation_id is required", field="conversation_id")
        chosen = parse_id(conversation_id)
        if chosen is None:
            raise BadInput("conversation_id is not a UUID", field="conversation_id")
        if not 1 <= len(messages) <= MAX_TURN_MESSAGES:
            raise BadInput(f"give 1 to {MAX_TURN_MESSAGES} messages", field="messages")
        items = [
            (_checked_message_id(new, f"messages[{index}]."), new, f"messages[{index}].message_id")
            for index, new in enumerate(messages)
        ]
        title = valid_title(title)
        principal = await self._access.require(workspace_id, WRITE)
        # A conflict: the conversation or one of these ids was stored already (a replay, a concurrent call)
        # and the second try meets it too.
        return await self._store(
            principal,
            canonical_workspace_id(workspace_id),
            chosen,
            create=create,
            title=title,
            items=items,
            conflict=Conflict("a message id is already used by another message", field="messages"),
        )

    async def _store(
        self,
        principal: Principal,
        workspace_id: str,
        conversation_id: str,
        *,
        create: bool,
        title: str,
        items: Sequence[Item],
        conflict: Conflict,
    ) -> tuple[list[Message], Conversation]:
        """Stores `items` in the caller's conversation in one transaction, creating it first when `create`
        is set and it is missing (with `title`, as `create` with a chosen id); `conflict` as
        `_optimistically` says. A first try adds to an existing one unread (`_append_unread`)."""

        async def store(look_up: bool) -> tuple[list[Message], Conversation]:
            async with self._db.core_transaction() as connection:
                if not (create or look_up):
                    return await _append_unread(connection, principal, workspace_id, conversation_id, items)
                conversation, new = await self._claim(
                    connection,
                    principal,
                    workspace_id,
                    conversation_id,
                    title=title,
                    create=create,
                    look_up=look_up,
                )
                stored = await self._put(connection, principal, conversation, new, items, look_up=look_up)
            return stored, conversation

        return await _optimistically(store, conflict)

    async def _put(
        self,
        connection: AsyncConnection,
        principal: Principal,
        conversation: Conversation,
        new_conversation: bool,
        items: Sequence[Item],
        *,
        look_up: bool,
    ) -> list[Message]:
        """Stores each (message id, message, field naming the id) in the locked conversation — a new one
        (from `_claim`) is stored first —, or answers the message already stored under its id (looked up
        when `look_up`: a first try leaves that to the primary key); an id used in another conversation is
        a CONFLICT naming the field. Moves the conversation's activity times; an untitled one takes the
        first user message's."""
        writer = TurnWriter(connection)
        ids = [message_id for message_id, _, _ in items if message_id]
        known = await writer.messages_by_ids(ids) if look_up and ids else {}
        stored: list[Message] = []
        fresh: list[Message] = []
        has_user_message = False
        for message_id, new, field in items:
            existing = known.get(message_id) if message_id else None
            if existing is not None:
                if existing.conversation_id != conversation.id:
                    raise Conflict("message_id is already used by another message", field=field)
                has_user_message |= existing.role == "user"
                stored.append(existing)
                continue
            if new.role == "user" and not conversation.title and not has_user_message:
                if new_conversation or not await writer.has_user_message(conversation.id):
                    conversation.title = title_from_message(new.content)
                has_user_message = True
            message = _message(
                principal, conversation.id, conversation.last_message_at, message_id or new_id(), new
            )
            conversation.last_message_at = conversation.updated_at = message.created_at
            known[message.id] = message
            stored.append(message)
            fresh.append(message)
        if new_conversation:
            await self._insert(connection, principal, conversation)
        elif fresh:
            await writer.touch(conversation)
        if fresh:
            await writer.insert_messages(fresh)
        return stored

    async def messages(self, conversation_id: str, *, size: int, token: str) -> Page[Message]:
        _, conversation = await self._owned(conversation_id, VIEW)
        limit = page_size(size)
        after_id = decode_page_token(token)
        async with self._db.session() as session:
            rows, total = await MessageRepository(session).listed(
                conversation_id=conversation.id, after_id=after_id, limit=limit + 1
            )
        items = list(rows[:limit])
        next_token = encode_page_token(items[-1].id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    async def context(
        self, conversation_id: str, *, context_window: int, max_output_tokens: int, system_prompt: str
    ) -> Context:
        if context_window <= 0:
            raise BadInput("context_window must be positive", field="context_window")
        if max_output_tokens < 0 or max_output_tokens >= context_window:
            raise BadInput("max_output_tokens must be in 0..context_window-1", field="max_output_tokens")
        _, conversation = await self._owned(conversation_id, VIEW)
        budget = context_window - max_output_tokens
        async with self._db.session() as session:
            # A stored message costs at least one token, so at most `budget` of them fit; one more tells
            # whether older ones were left out.
            history = await MessageRepository(session).newest(conversation.id, budget + 1)
        return assemble(history, system_prompt=system_prompt, budget=budget)

    @staticmethod
    async def _audit(
        transaction: AsyncSession | AsyncConnection,
        principal: Principal,
        conversation: Conversation,
        action: str,
        details: dict[str, object] | None = None,
    ) -> None:
        await record_audit(
            transaction,
            service=SERVICE,
            action=action,
            tenant_id=principal.tenant_id,
            workspace_id=conversation.workspace_id,
            resource_type="conversation",
            resource_id=conversation.id,
            details=details,
        )


async def _append_unread(
    connection: AsyncConnection,
    principal: Principal,
    workspace_id: str,
    conversation_id: str,
    items: Sequence[Item],
) -> tuple[list[Message], Conversation]:
    """A first try at adding `items` to an existing conversation in two statements, without the locked read:
    it takes the conversation to be the caller's, its last message to be older than these and, when they
    hold a user message, its title to be set already (so it stays). The UPDATE moves its activity times
    only when all that holds, else `_Unconfirmed` leaves the call to the second try, which reads it; a
    message id stored already fails the INSERT on its primary key, to the same effect."""
    fresh: list[Message] = []
    previous: datetime | None = None
    for message_id, new, _ in items:
        message = _message(principal, conversation_id, previous, message_id or new_id(), new)
        previous = message.created_at
        fresh.append(message)
    writer = TurnWriter(connection)
    conversation = await writer.touch_owned(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        first_at=fresh[0].created_at,
        last_at=fresh[-1].created_at,
        untitled_ok=all(new.role != "user" for _, new, _ in items),
    )
    if conversation is None:
        raise _Unconfirmed
    await writer.insert_messages(fresh)
    return fresh, conversation
