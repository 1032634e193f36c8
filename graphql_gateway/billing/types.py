"""GraphQL types of billing: a workspace's quota in the current monthly window, built from
`geko.billing.v1.Quota` or the chat service's `QuotaState` (the same fields, reported with a turn).

Limits are -1 for unlimited in proto; GraphQL says so with null, so a client never compares against -1."""

from __future__ import annotations

from datetime import datetime

import strawberry

from geko.billing.v1 import billing_pb2
from geko.chat.v1 import chat_pb2
from graphql_gateway.common import Plan, plan_from_proto, to_datetime

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
