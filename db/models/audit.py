"""The audit log: append-only, one hash chain per tenant.

Owned by services/audit: other services emit events (over gRPC or through their outbox), never write here.
"""

from __future__ import annotations

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import UUID_TYPE, Base, BigCount, CreatedAt, IdPk, IdRef, JsonDict


class AuditLog(CreatedAt, Base):
    """One state change: who, what, on what, from where. `seq` orders a tenant's events without gaps and
    `hash` covers `prev_hash` plus this row, so a removed or edited row breaks the chain."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index("ix_audit_logs_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_audit_logs_tenant_id_action", "tenant_id", "action"),
        Index("ix_audit_logs_workspace_id_created_at", "workspace_id", "created_at"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    seq: Mapped[BigCount]
    workspace_id: Mapped[str | None] = mapped_column(UUID_TYPE)
    actor_user_id: Mapped[str | None] = mapped_column(UUID_TYPE)
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[JsonDict] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
