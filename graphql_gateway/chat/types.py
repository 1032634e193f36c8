"""GraphQL types of a chat turn: its input, the `ChatEvent` union a subscription streams, and the results of
`sendMessage` and `cancelChat`, built from `geko.chat.v1` events."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from geko.chat.v1 import chat_pb2
from graphql_gateway.billing.types import Quota
from graphql_gateway.model.types import Micros


@strawberry.input(description="Picks up a turn after a lost connection.")
class ChatResumeInput:
    turn_id: strawberry.ID
    after_seq: int = strawberry.field(description="The last `seq` received; 0 replays the whole turn.")


@strawberry.input(description="One chat turn: a message to a model in a workspace.")
class ChatInput:
    workspace_id: strawberry.ID
    model: str = strawberry.field(description="The model's id, e.g. gpt-4o-mini.")
    message: str
    conversation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Continue this conversation; null starts a new one, titled from the message.",
    )
    max_tokens: int | None = strawberry.field(
        default=None,
        description="Most output tokens (part of the reservation); null: the platform default, lowered "
        "to the model's maximum.",
    )
    system_prompt: str | None = strawberry.field(default=None, description="Replaces the system prompt.")
    turn_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A client-chosen UUID that makes the turn idempotent: sending it again replays the same "
        "turn instead of running (and billing) a second one.",
    )
    resume: ChatResumeInput | None = strawberry.field(
        default=None,
        description="Re-attach to a running or finished turn instead of starting one (the other fields are "
        "then ignored).",
    )


@strawberry.enum(description="Why the model stopped.")
class FinishReason(Enum):
    STOP = "STOP"
    LENGTH = "LENGTH"
    TOOL_CALLS = "TOOL_CALLS"
    CONTENT_FILTER = "CONTENT_FILTER"
    CANCELLED = "CANCELLED"


def finish_reason(value: int) -> FinishReason:
    name = chat_pb2.FinishReason.Name(value).removeprefix("FINISH_REASON_")
    return FinishReason.__members__.get(name, FinishReason.STOP)


@strawberry.type(description="Tokens of one turn.")
class ChatUsage:
    input_tokens: int
    output_tokens: int
    total_tokens: int

    @classmethod
    def from_proto(cls, usage: chat_pb2.Usage) -> ChatUsage:
        return cls(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
        )


SEQ_DESCRIPTION = (
    "Sequence number of the last event this one covers (deltas are coalesced, so numbers may skip); resume "
    "with afterSeq = the last seq received."
)


@strawberry.type(description="The checks passed and tokens are reserved; the model is being called.")
class ChatStarted:
    seq: int = strawberry.field(description=SEQ_DESCRIPTION)
    turn_id: strawberry.ID
    conversation_id: strawberry.ID
    message_id: strawberry.ID = strawberry.field(description="Id the answer will be stored under.")
    model: str


@strawberry.type(description="Text the model generated since the previous delta.")
class ChatDelta:
    seq: int = strawberry.field(description=SEQ_DESCRIPTION)
    text: str


@strawberry.type(description="The turn ended; the answer is stored and billed. Terminal.")
class ChatCompleted:
    seq: int = strawberry.field(description=SEQ_DESCRIPTION)
    turn_id: strawberry.ID
    message_id: strawberry.ID
    usage: ChatUsage
    cost_micros: Micros | None = strawberry.field(
        description="Cost at the price in force; null when billing was unreachable (it is billed later)."
    )
    currency: str | None
    quota: Quota | None = strawberry.field(
        description="The workspace's quota after this turn; `warning` at 80% or more."
    )
    finish_reason: FinishReason


@strawberry.type(description="The turn was denied or failed. Terminal.")
class ChatFailed:
    seq: int = strawberry.field(description=SEQ_DESCRIPTION)
    turn_id: strawberry.ID
    code: str = strawberry.field(
        description="QUOTA_EXCEEDED, BUDGET_EXCEEDED, MODEL_NOT_ALLOWED, RATE_LIMITED, "
        "UPSTREAM_UNAVAILABLE, BAD_USER_INPUT (the provider refused the request) or INTERNAL."
    )
    message: str
    upgrade_url: str | None = strawberry.field(description="For denials that an upgrade lifts.")
    retry_after: int | None = strawberry.field(description="For RATE_LIMITED: seconds to wait.")
    usage: ChatUsage = strawberry.field(description="What was produced (and billed) before the failure.")
    cost_micros: Micros | None
    quota: Quota | None


ChatEvent = Annotated[
    ChatStarted | ChatDelta | ChatCompleted | ChatFailed,
    strawberry.union("ChatEvent", description="One event of a chat turn."),
]


def event_from_proto(event: chat_pb2.ChatEvent) -> ChatEvent | None:
    """The GraphQL event; None for kinds not exposed yet (tool calls)."""
    kind = event.WhichOneof("kind")
    if kind == "delta":
        return ChatDelta(seq=event.sequence, text=event.delta.text)
    if kind == "started":
        started = event.started
        return ChatStarted(
            seq=event.sequence,
            turn_id=strawberry.ID(started.turn_id),
            conversation_id=strawberry.ID(started.conversation_id),
            message_id=strawberry.ID(started.message_id),
            model=started.model_id,
        )
    if kind == "completed":
        done = event.completed
        billed = done.HasField("quota")
        return ChatCompleted(
            seq=event.sequence,
            turn_id=strawberry.ID(event.turn_id),
            message_id=strawberry.ID(done.message_id),
            usage=ChatUsage.from_proto(done.usage),
            cost_micros=Micros(done.cost_micros) if billed else None,
            currency=done.currency or None,
            quota=Quota.from_proto(done.quota) if billed else None,
            finish_reason=finish_reason(done.finish_reason),
        )
    if kind == "failed":
        failed = event.failed
        return ChatFailed(
            seq=event.sequence,
            turn_id=strawberry.ID(event.turn_id),
            code=failed.code,
            message=failed.message,
            upgrade_url=failed.upgrade_url or None,
            retry_after=failed.retry_after_seconds or None,
            usage=ChatUsage.from_proto(failed.usage),
            cost_micros=Micros(failed.cost_micros) if failed.HasField("quota") else None,
            quota=Quota.from_proto(failed.quota) if failed.HasField("quota") else None,
        )
    return None


@strawberry.type(description="The result of a turn that was not streamed.")
class SendMessagePayload:
    turn_id: strawberry.ID
    conversation_id: strawberry.ID
    message_id: strawberry.ID = strawberry.field(description="The stored answer's id.")
    text: str = strawberry.field(description="The whole answer.")
    usage: ChatUsage
    cost_micros: Micros | None
    currency: str | None
    quota: Quota | None
    finish_reason: FinishReason


@strawberry.type
class CancelChatPayload:
    turn_id: strawberry.ID
    cancelled: bool = strawberry.field(description="False when the turn had already ended.")
