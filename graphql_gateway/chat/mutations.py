"""`sendMessage` (a turn, answered whole) and `cancelChat`.

A chat result over HTTP also reports the quota in the response: `extensions.quota` and the headers
`X-Quota-Remaining`, `X-Quota-Warning` and `X-Upgrade-Url` (DESIGN.md §5).
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.chat.v1 import chat_pb2
from graphql_gateway.billing.types import Quota
from graphql_gateway.chat.stream import EventRelay
from graphql_gateway.chat.turns import open_turn
from graphql_gateway.chat.types import (
    CancelChatPayload,
    ChatInput,
    ChatUsage,
    SendMessagePayload,
    finish_reason,
)
from graphql_gateway.context import GatewayContext, IsAuthenticated, context_of
from graphql_gateway.model.types import Micros
from services.runtime.errors import ErrorCode, GekoError, UpstreamUnavailable


def report_quota(ctx: GatewayContext, quota: chat_pb2.QuotaState) -> None:
    """Puts the quota after a turn into the response's extensions and, over HTTP, its headers."""
    shaped = Quota.from_proto(quota)
    ctx.result_extensions["quota"] = {
        "plan": shaped.plan.value,
        "tokensLimit": shaped.tokens_limit,
        "tokensUsed": shaped.tokens_used,
        "tokensRemaining": shaped.tokens_remaining,
        "requestsLimit": shaped.requests_limit,
        "requestsUsed": shaped.requests_used,
        "percentUsed": shaped.percent_used,
        "warning": shaped.warning,
        "resetAt": shaped.reset_at.isoformat(),
        "upgradeUrl": shaped.upgrade_url,
    }
    headers = ctx.http_headers()
    if headers is None:
        return
    headers["X-Quota-Remaining"] = (
        "unlimited" if shaped.tokens_remaining is None else str(shaped.tokens_remaining)
    )
    headers["X-Quota-Warning"] = "true" if shaped.warning else "false"
    if shaped.upgrade_url and shaped.warning:
        headers["X-Upgrade-Url"] = shaped.upgrade_url


@strawberry.type
class ChatMutations:
    @strawberry.mutation(
        description=(
            "Sends a message and answers when the turn is over (the same checks, reservation and billing as "
            "the `chat` subscription). A denial or failure is the operation's error, with extensions.code "
            "and, where an upgrade lifts it, extensions.upgradeUrl."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def send_message(self, info: Info, input: ChatInput) -> SendMessagePayload:
        ctx = context_of(info)
        relay = EventRelay(open_turn(ctx, input))
        first = await relay.first()
        events = [first] if first is not None else []
        if first is not None:
            events.extend([event async for event in relay.rest()])
        started = next((event.started for event in events if event.HasField("started")), None)
        text = "".join(event.delta.text for event in events if event.HasField("delta"))
        terminal = events[-1] if events else None
        if terminal is not None and terminal.HasField("failed"):
            failed = terminal.failed
            if failed.HasField("quota"):
                report_quota(ctx, failed.quota)
            raise GekoError(
                failed.message,
                code=ErrorCode(failed.code) if failed.code in ErrorCode.__members__ else ErrorCode.INTERNAL,
                upgrade_url=failed.upgrade_url or None,
                retry_after_seconds=failed.retry_after_seconds or None,
            )
        if terminal is None or not terminal.HasField("completed") or started is None:
            raise UpstreamUnavailable("the turn ended without an answer")
        done = terminal.completed
        billed = done.HasField("quota")
        if billed:
            report_quota(ctx, done.quota)
        return SendMessagePayload(
            turn_id=strawberry.ID(terminal.turn_id),
            conversation_id=strawberry.ID(started.conversation_id),
            message_id=strawberry.ID(done.message_id),
            text=text,
            usage=ChatUsage.from_proto(done.usage),
            cost_micros=Micros(done.cost_micros) if billed else None,
            currency=done.currency or None,
            quota=Quota.from_proto(done.quota) if billed else None,
            finish_reason=finish_reason(done.finish_reason),
        )

    @strawberry.mutation(
        description="Stops a running turn of the caller; it completes as CANCELLED, billed for what was "
        "produced.",
        permission_classes=[IsAuthenticated],
    )
    async def cancel_chat(self, info: Info, turn_id: strawberry.ID) -> CancelChatPayload:
        ctx = context_of(info)
        response = await ctx.chat.CancelChat(
            chat_pb2.CancelChatRequest(turn_id=str(turn_id)), metadata=ctx.metadata()
        )
        return CancelChatPayload(turn_id=turn_id, cancelled=response.cancelled)
