"""GraphQL types of billing: a workspace's quota in the current monthly window, built from
`geko.billing.v1.Quota` or the chat service's `QuotaState` (the same fields, reported with a turn), and its
usage in a month. Money is integer micro-units (`Micros`).

Limits are -1 for unlimited in proto; GraphQL says so with null, so a client never compares against -1."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry.types import Info

from geko.billing.v1 import billing_pb2
from geko.chat.v1 import chat_pb2
from graphql_gateway.auth.types import User
from graphql_gateway.common import Plan, plan_from_proto, to_datetime
from graphql_gateway.context import GatewayContext, context_of
from graphql_gateway.model.types import Micros

UNLIMITED = -1


def limit_or_none(value: int) -> int | None:
    """None for proto's -1 (unlimited), else the value."""
    return None if value == UNLIMITED else value


@strawberry.type(description="A workspace's standing in the current monthly window (UTC).")
class Quota:
    plan: Plan
    tokens_limit: int | None = strawberry.field(description="Tokens per month; null means unlimited.")
    tokens_used: int = strawberry.field(description="Tokens committed this month.")
    tokens_reserved: int = strawberry.field(
        description="Tokens held by turns in flight; they count against the limit until settled."
    )
    tokens_remaining: int | None = strawberry.field(
        description="Tokens still available this month; null means unlimited."
    )
    requests_limit: int | None = strawberry.field(description="Requests per month; null means unlimited.")
    requests_used: int
    percent_used: float = strawberry.field(description="Percent of the token limit used; 0 when unlimited.")
    warning: bool = strawberry.field(description="True at 80% or more of a limit.")
    reset_at: datetime = strawberry.field(description="When the next monthly window starts.")
    upgrade_url: str | None = strawberry.field(
        description="Where to upgrade; null when no higher plan exists."
    )

    @classmethod
    def from_proto(cls, quota: billing_pb2.Quota | chat_pb2.QuotaState) -> Quota:
        """Either message: chat's `QuotaState` has no reservations of its own (the turn's is settled)."""
        reserved = quota.tokens_reserved if isinstance(quota, billing_pb2.Quota) else 0
        return cls(
            plan=plan_from_proto(quota.plan),
            tokens_limit=limit_or_none(quota.tokens_limit),
            tokens_used=quota.tokens_used,
            tokens_reserved=reserved,
            tokens_remaining=limit_or_none(quota.tokens_remaining),
            requests_limit=limit_or_none(quota.requests_limit),
            requests_used=quota.requests_used,
            percent_used=quota.percent_used,
            warning=quota.warning,
            reset_at=to_datetime(quota.reset_time),
            upgrade_url=quota.upgrade_url or None,
        )


@strawberry.type(description="One model's share of a month's usage.")
class ModelUsage:
    model_id: str
    tokens: int = strawberry.field(description="Input plus output tokens.")
    input_tokens: int
    output_tokens: int
    cost_micros: Micros

    @classmethod
    def from_proto(cls, usage: billing_pb2.ModelUsage) -> ModelUsage:
        return cls(
            model_id=usage.model_id,
            tokens=usage.input_tokens + usage.output_tokens,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=Micros(usage.cost_micros),
        )


@strawberry.type(description="One member's share of a month's usage.")
class UserUsage:
    user_id: strawberry.ID
    tokens: int = strawberry.field(description="Input plus output tokens.")
    input_tokens: int
    output_tokens: int
    cost_micros: Micros

    @strawberry.field(description="Null only when the account no longer exists.")
    async def user(self, info: Info) -> User | None:
        return await context_of(info).users.load(self.user_id)

    @classmethod
    def from_proto(cls, usage: billing_pb2.UserUsage) -> UserUsage:
        return cls(
            user_id=strawberry.ID(usage.user_id),
            tokens=usage.input_tokens + usage.output_tokens,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=Micros(usage.cost_micros),
        )


@strawberry.type(description="One UTC day's usage.")
class DailyUsage:
    date: date
    tokens: int = strawberry.field(description="Input plus output tokens.")
    input_tokens: int
    output_tokens: int
    cost_micros: Micros

    @classmethod
    def from_proto(cls, usage: billing_pb2.DailyUsage) -> DailyUsage:
        return cls(
            date=date.fromisoformat(usage.date),
            tokens=usage.input_tokens + usage.output_tokens,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=Micros(usage.cost_micros),
        )


@strawberry.type(description="A workspace's usage in one UTC month, from the ledger: every settled turn.")
class Usage:
    month: str = strawberry.field(description='"YYYY-MM" (UTC).')
    tokens: int = strawberry.field(description="Input plus output tokens.")
    input_tokens: int
    output_tokens: int
    requests: int = strawberry.field(description="Settled turns.")
    cost_micros: Micros
    currency: str
    per_model: list[ModelUsage]
    per_user: list[UserUsage]
    daily: list[DailyUsage] = strawberry.field(description="Days with usage, oldest first.")

    @classmethod
    def from_proto(cls, usage: billing_pb2.GetUsageResponse) -> Usage:
        return cls(
            month=usage.month,
            tokens=usage.input_tokens + usage.output_tokens,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            requests=usage.requests,
            cost_micros=Micros(usage.cost_micros),
            currency=usage.currency,
            per_model=[ModelUsage.from_proto(row) for row in usage.per_model],
            per_user=[UserUsage.from_proto(row) for row in usage.per_user],
            daily=[DailyUsage.from_proto(row) for row in usage.daily],
        )


async def workspace_quota(ctx: GatewayContext, workspace_id: str) -> Quota:
    """A workspace's quota now (any member may see it)."""
    request = billing_pb2.GetQuotaRequest(workspace_id=workspace_id)
    response = await ctx.billing.GetQuota(request, metadata=ctx.metadata())
    return Quota.from_proto(response.quota)


async def workspace_usage(ctx: GatewayContext, workspace_id: str, month: str | None) -> Usage:
    """A workspace's usage in `month` (the current one when None); needs usage:view:workspace."""
    request = billing_pb2.GetUsageRequest(workspace_id=workspace_id, month=month or "")
    response = await ctx.billing.GetUsage(request, metadata=ctx.metadata())
    return Usage.from_proto(response)
