"""Quotas, reservations, the usage ledger and monthly cost tracking (billing service).

Revision ID: 004_quotas_usage
Revises: 003_models_mcps
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "004_quotas_usage"
down_revision: str | None = "003_models_mcps"
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("tokens_limit", sa.BigInteger(), nullable=False),
        sa.Column("tokens_used", sa.BigInteger(), nullable=False),
        sa.Column("tokens_reserved", sa.BigInteger(), nullable=False),
        sa.Column("requests_limit", sa.BigInteger(), nullable=False),
        sa.Column("requests_used", sa.BigInteger(), nullable=False),
        sa.Column("reset_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("plan IN ('free', 'pro', 'paygo')", name=op.f("ck_quotas_plan")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotas")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_quotas_workspace_id")),
    )
    op.create_table(
        "reservations",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('held', 'committed', 'released', 'expired')", name=op.f("ck_reservations_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_reservations_idempotency_key")),
    )
    op.create_table(
        "token_usage",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_usage")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_token_usage_idempotency_key")),
    )
    op.create_table(
        "cost_tracking",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("total_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("budget_micros", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_tracking")),
        sa.UniqueConstraint("workspace_id", "month", name=op.f("uq_cost_tracking_workspace_id_month")),
    )


def downgrade() -> None:
    op.drop_table("cost_tracking")
    op.drop_table("token_usage")
    op.drop_table("reservations")
    op.drop_table("quotas")
