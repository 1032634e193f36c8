"""Builders of a turn's ChatEvents: what a client sees, in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from geko.billing.v1 import billing_pb2
from geko.chat.v1 import chat_pb2
from services.chat.preflight import Prepared
from services.runtime.errors import ErrorCode, GekoError
from services.runtime.messages import timestamp

# Denials and failures that end a turn with a ChatFailed event; anything else about the request itself
# (malformed, not found, forbidden) is the call's error instead.
TERMINAL_CODES = frozenset(
    {
        ErrorCode.QUOTA_EXCEEDED,
        ErrorCode.BUDGET_EXCEEDED,
        ErrorCode.MODEL_NOT_ALLOWED,
        ErrorCode.RATE_LIMITED,
        ErrorCode.UPSTREAM_UNAVAILABLE,
        ErrorCode.INTERNAL,
    }
)
FINISH_REASONS = {
    "stop": chat_pb2.FINISH_REASON_STOP,
    "length": chat_pb2.FINISH_REASON_LENGTH,
    "tool_calls": chat_pb2.FINISH_REASON_TOOL_CALLS,
    "content_filter": chat_pb2.FINISH_REASON_CONTENT_FILTER,
}


def started(prepared: Prepared, message_id: str) -> chat_pb2.ChatEvent:
    return chat_pb2.ChatEvent(
        started=chat_pb2.ChatStarted(
            turn_id=prepared.request.turn_id,
            conversation_id=prepared.conversation_id,
            message_id=message_id,
            model_id=prepared.request.model_id,
            start_time=timestamp(datetime.now(UTC)),
        )
    )


def usage(input_tokens: int, output_tokens: int) -> chat_pb2.Usage:
    return chat_pb2.Usage(
        input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens
    )


def quota_state(quota: billing_pb2.Quota) -> chat_pb2.QuotaState:
    return chat_pb2.QuotaState(
        plan=quota.plan,
        tokens_limit=quota.tokens_limit,
        tokens_used=quota.tokens_used,
        tokens_remaining=quota.tokens_remaining,
        requests_limit=quota.requests_limit,
        requests_used=quota.requests_used,
        percent_used=quota.percent_used,
        warning=quota.warning,
        reset_time=quota.reset_time,
        upgrade_url=quota.upgrade_url if quota.warning else "",
    )


def completed(
    message_id: str,
    turn_usage: chat_pb2.Usage,
    commit: billing_pb2.CommitUsageResponse | None,
    finish_reason: chat_pb2.FinishReason,
) -> chat_pb2.ChatEvent:
    """`commit` is None when billing was unreachable: the usage waits in the outbox, cost and quota
    unknown."""
    event = chat_pb2.ChatCompleted(message_id=message_id, usage=turn_usage, finish_reason=finish_reason)
    if commit is not None:
        event.cost_micros = commit.record.cost_micros
        event.currency = commit.record.currency
        event.quota.CopyFrom(quota_state(commit.quota))
    return chat_pb2.ChatEvent(completed=event)


def failed(
    error: GekoError,
    turn_usage: chat_pb2.Usage | None = None,
    commit: billing_pb2.CommitUsageResponse | None = None,
) -> chat_pb2.ChatEvent:
    event = chat_pb2.ChatFailed(
        code=error.code.value,
        message=error.message,
        upgrade_url=error.upgrade_url or "",
        retry_after_seconds=error.retry_after_seconds or 0,
    )
    if turn_usage is not None:
        event.usage.CopyFrom(turn_usage)
    if commit is not None:
        event.cost_micros = commit.record.cost_micros
        event.quota.CopyFrom(quota_state(commit.quota))
    return chat_pb2.ChatEvent(failed=event)
