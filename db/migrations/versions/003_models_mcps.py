"""Model catalog, dated prices, workspace model settings, provider connections, install jobs, MCP registry (model service).

Revision ID: 003_models_mcps
Revises: 002_workspaces_members_roles_invitations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "003_models_mcps"
down_revision: str | None = "002_workspaces_members_roles_invitations"
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "provider_connections",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.String(length=1024), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "kind IN ('openai', 'anthropic', 'ollama')", name=op.f("ck_provider_connections_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_connections")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_provider_connections_tenant_id_name")),
    )
    op.create_table(
        "model_catalog",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", UUID, nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("is_local", sa.Boolean(), nullable=False),
        sa.Column("is_free", sa.Boolean(), nullable=False),
        sa.Column("min_plan", sa.String(length=16), nullable=False),
        sa.Column("max_free_tokens_per_month", sa.BigInteger(), nullable=True),
        sa.Column("context_window", sa.Integer(), nullable=False),
        sa.Column("max_output_tokens", sa.Integer(), nullable=False),
        sa.Column("connection_id", UUID, nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("min_plan IN ('free', 'pro', 'paygo')", name=op.f("ck_model_catalog_min_plan")),
        sa.CheckConstraint("type IN ('chat', 'embedding', 'image')", name=op.f("ck_model_catalog_type")),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["provider_connections.id"],
            name=op.f("fk_model_catalog_connection_id_provider_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_catalog")),
    )
    op.create_table(
        "model_prices",
        sa.Column("id", UUID, nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("input_micros_per_1k", sa.BigInteger(), nullable=False),
        sa.Column("output_micros_per_1k", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_from", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["model_catalog.id"],
            name=op.f("fk_model_prices_model_id_model_catalog"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
        sa.UniqueConstraint(
            "model_id", "effective_from", name=op.f("uq_model_prices_model_id_effective_from")
        ),
    )
    op.create_table(
        "workspace_models",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("installed_at", TIMESTAMP, nullable=True),
        sa.Column("custom_cost_override_micros", sa.BigInteger(), nullable=True),
        sa.Column("max_tokens_override", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["model_catalog.id"],
            name=op.f("fk_workspace_models_model_id_model_catalog"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_models")),
        sa.UniqueConstraint(
            "workspace_id", "model_id", name=op.f("uq_workspace_models_workspace_id_model_id")
        ),
    )
    op.create_table(
        "model_install_jobs",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("created_by", UUID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("completed_bytes", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'downloading', 'verifying', 'ready', 'error')",
            name=op.f("ck_model_install_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_install_jobs")),
    )
    op.create_table(
        "mcp_servers",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("transport IN ('stdio', 'sse', 'http')", name=op.f("ck_mcp_servers_transport")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_servers")),
    )
    op.create_table(
        "workspace_mcps",
        sa.Column("id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("mcp_id", UUID, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["mcp_id"],
            ["mcp_servers.id"],
            name=op.f("fk_workspace_mcps_mcp_id_mcp_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_mcps")),
        sa.UniqueConstraint("workspace_id", "mcp_id", name=op.f("uq_workspace_mcps_workspace_id_mcp_id")),
    )


def downgrade() -> None:
    op.drop_table("workspace_mcps")
    op.drop_table("mcp_servers")
    op.drop_table("model_install_jobs")
    op.drop_table("workspace_models")
    op.drop_table("model_prices")
    op.drop_table("model_catalog")
    op.drop_table("provider_connections")
