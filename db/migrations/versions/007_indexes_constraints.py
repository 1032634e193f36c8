"""Secondary indexes for the lookups each service makes (by tenant, by user, by time, relay queues).

Revision ID: 007_indexes_constraints
Revises: 006_sessions_oauth_apikeys
"""

from __future__ import annotations

from alembic import op

revision = "007_indexes_constraints"
down_revision: str | None = "006_sessions_oauth_apikeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"], unique=False)
    op.create_index("ix_workspaces_tenant_id", "workspaces", ["tenant_id"], unique=False)
    op.create_index("ix_workspace_members_user_id", "workspace_members", ["user_id"], unique=False)
    op.create_index("ix_invitations_email", "invitations", ["email"], unique=False)
    op.create_index("ix_invitations_workspace_id", "invitations", ["workspace_id"], unique=False)
    op.create_index("ix_model_catalog_tenant_id", "model_catalog", ["tenant_id"], unique=False)
    op.create_index(
        "ix_model_install_jobs_tenant_id_created_at",
        "model_install_jobs",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_mcp_servers_tenant_id", "mcp_servers", ["tenant_id"], unique=False)
    op.create_index("ix_quotas_tenant_id", "quotas", ["tenant_id"], unique=False)
    op.create_index(
        "ix_reservations_status_expires_at", "reservations", ["status", "expires_at"], unique=False
    )
    op.create_index(
        "ix_reservations_workspace_id_status", "reservations", ["workspace_id", "status"], unique=False
    )
    op.create_index(
        "ix_token_usage_tenant_id_created_at", "token_usage", ["tenant_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_token_usage_workspace_id_created_at", "token_usage", ["workspace_id", "created_at"], unique=False
    )
    op.create_index("ix_audit_logs_tenant_id_action", "audit_logs", ["tenant_id", "action"], unique=False)
    op.create_index(
        "ix_audit_logs_tenant_id_created_at", "audit_logs", ["tenant_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_audit_logs_workspace_id_created_at", "audit_logs", ["workspace_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_outbox_events_service_delivered_at", "outbox_events", ["service", "delivered_at"], unique=False
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"], unique=False)
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"], unique=False)
    op.create_index("ix_oauth_providers_user_id", "oauth_providers", ["user_id"], unique=False)
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"], unique=False)
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_index("ix_oauth_providers_user_id", table_name="oauth_providers")
    op.drop_index("ix_refresh_tokens_user_id", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_index("ix_outbox_events_service_delivered_at", table_name="outbox_events")
    op.drop_index("ix_audit_logs_workspace_id_created_at", table_name="audit_logs")
    op.drop_index("ix_audit_logs_tenant_id_created_at", table_name="audit_logs")
    op.drop_index("ix_audit_logs_tenant_id_action", table_name="audit_logs")
    op.drop_index("ix_token_usage_workspace_id_created_at", table_name="token_usage")
    op.drop_index("ix_token_usage_tenant_id_created_at", table_name="token_usage")
    op.drop_index("ix_reservations_workspace_id_status", table_name="reservations")
    op.drop_index("ix_reservations_status_expires_at", table_name="reservations")
    op.drop_index("ix_quotas_tenant_id", table_name="quotas")
    op.drop_index("ix_mcp_servers_tenant_id", table_name="mcp_servers")
    op.drop_index("ix_model_install_jobs_tenant_id_created_at", table_name="model_install_jobs")
    op.drop_index("ix_model_catalog_tenant_id", table_name="model_catalog")
    op.drop_index("ix_invitations_workspace_id", table_name="invitations")
    op.drop_index("ix_invitations_email", table_name="invitations")
    op.drop_index("ix_workspace_members_user_id", table_name="workspace_members")
    op.drop_index("ix_workspaces_tenant_id", table_name="workspaces")
    op.drop_index("ix_users_tenant_id", table_name="users")
