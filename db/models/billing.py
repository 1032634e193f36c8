"""Tables of the billing service (quotas, token reservations, the usage ledger, monthly cost tracking).

Owned by services/billing: no other service reads or writes them; chat reserves and commits over gRPC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, BigCount, CreatedAt, IdPk, IdRef, Micros, Timestamps, one_of
from services.runtime.plans import PLANS

RESERVATION_STATUSES = ("held", "committed", "released", "expired")
UNLIMITED = -1  # a tokens_limit / requests_limit meaning "no limit"


class Quota(Timestamps, Base):
    """A workspace's standing in the current monthly window; reserved tokens count against the limit."""

    __tablename__ = "quotas"
    __table_args__ = (
        UniqueConstraint("workspace_id"),
        one_of("plan", PLANS),
        Index("ix_quotas_tenant_id", "tenant_id"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[IdRef]
    plan: Mapped[str] = mapped_column(String(16), default="free")
    tokens_limit: Mapped[BigCount]
    tokens_used: Mapped[BigCount] = mapped_column(default=0)
    tokens_reserved: Mapped[BigCount] = mapped_column(default=0)
    requests_limit: Mapped[BigCount]
    requests_used: Mapped[BigCount] = mapped_column(default=0)
    reset_at: Mapped[datetime]


class Reservation(CreatedAt, Base):
    """Tokens held for a chat turn in flight, keyed by the turn id so a retried reserve finds it again."""

    __tablename__ = "reservations"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        one_of("status", RESERVATION_STATUSES),
        Index("ix_reservations_workspace_id_status", "workspace_id", "status"),
        Index("ix_reservations_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[IdRef]
    user_id: Mapped[IdRef]
    model_id: Mapped[str] = mapped_column(String(128))
    tokens: Mapped[BigCount]
    idempotency_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="held")
    expires_at: Mapped[datetime]


class TokenUsage(CreatedAt, Base):
    """One settled chat turn in the usage ledger. The idempotency key (turn id) bills a turn exactly once."""

    __tablename__ = "token_usage"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_token_usage_workspace_id_created_at", "workspace_id", "created_at"),
        Index("ix_token_usage_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[IdRef]
    user_id: Mapped[IdRef]
    model_id: Mapped[str] = mapped_column(String(128))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_micros: Mapped[Micros]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    idempotency_key: Mapped[str] = mapped_column(String(128))
    # When the tokens were used (its prices apply); earlier than created_at when an outbox delivers late.
    used_at: Mapped[datetime]


class CostTracking(Timestamps, Base):
    """A workspace's spend in one calendar month (UTC, "YYYY-MM"), against its budget when it has one."""

    __tablename__ = "cost_tracking"
    __table_args__ = (UniqueConstraint("workspace_id", "month"),)

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[IdRef]
    month: Mapped[str] = mapped_column(String(7))
    total_cost_micros: Mapped[Micros] = mapped_column(default=0)
    budget_micros: Mapped[int | None] = mapped_column(BigInteger)
