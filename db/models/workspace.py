"""Tables of the workspace service (workspaces, roles and their permissions, members, invitations).

Owned by services/workspace: no other service reads or writes them; they call the workspace service over gRPC
(CheckPermission and friends).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import UUID_TYPE, Base, CreatedAt, IdPk, IdRef, Timestamps, one_of

MEMBER_STATUSES = ("active", "invited", "suspended", "removed")
_SYSTEM_ROW = text("workspace_id IS NULL")


class Workspace(Timestamps, Base):
    """A team space inside a tenant; soft-deleted so its history (usage, audit) keeps a referent."""

    __tablename__ = "workspaces"
    __table_args__ = (Index("ix_workspaces_tenant_id", "tenant_id"),)

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    name: Mapped[str]
    icon: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(UUID_TYPE)
    deleted_at: Mapped[datetime | None]


class WorkspaceRole(Timestamps, Base):
    """A named set of permissions. System rows (owner, admin, editor, viewer) have no tenant and no workspace
    and serve every workspace; custom roles belong to one workspace."""

    __tablename__ = "workspace_roles"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        # UNIQUE(workspace_id, name) lets NULLs repeat, so system names need their own partial index.
        Index(
            "uq_workspace_roles_system_name",
            "name",
            unique=True,
            postgresql_where=_SYSTEM_ROW,
            sqlite_where=_SYSTEM_ROW,
        ),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[str | None] = mapped_column(UUID_TYPE)
    workspace_id: Mapped[str | None] = mapped_column(
        UUID_TYPE, ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)


class RolePermission(Base):
    """One permission (`resource:action[:scope]`) granted by a role."""

    __tablename__ = "role_permissions"
    __table_args__ = (UniqueConstraint("role_id", "permission"),)

    id: Mapped[IdPk]
    role_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("workspace_roles.id", ondelete="CASCADE"))
    permission: Mapped[str] = mapped_column(String(64))


class WorkspaceMember(CreatedAt, Base):
    """A user's membership of a workspace, with the role that decides what they may do there."""

    __tablename__ = "workspace_members"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        one_of("status", MEMBER_STATUSES),
        Index("ix_workspace_members_user_id", "user_id"),
    )

    id: Mapped[IdPk]
    workspace_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[IdRef]
    # No cascade: a role still held by members cannot be deleted.
    role_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("workspace_roles.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    invited_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]


class Invitation(CreatedAt, Base):
    """An emailed invitation to join a workspace; its token is stored hashed."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index("ix_invitations_workspace_id", "workspace_id"),
        Index("ix_invitations_email", "email"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("workspace_roles.id"))
    token_hash: Mapped[str] = mapped_column(String(128))
    invited_by: Mapped[str | None] = mapped_column(UUID_TYPE)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_sent_at: Mapped[datetime | None]
