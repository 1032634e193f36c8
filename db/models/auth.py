"""Tables of the auth service (tenants, users, refresh tokens, API keys, OAuth identities, signing keys).

Owned by services/auth: no other service reads or writes them; they ask the auth service over gRPC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import (
    UUID_TYPE,
    Base,
    CreatedAt,
    IdPk,
    IdRef,
    JsonDict,
    JsonList,
    Timestamps,
    one_of,
)
from services.runtime.plans import PLANS

# Tenant-level roles; the same four names are the default workspace roles.
USER_ROLES = ("owner", "admin", "editor", "viewer")


class Tenant(Timestamps, Base):
    """An organisation: the unit of isolation and of billing."""

    __tablename__ = "tenants"
    __table_args__ = (one_of("plan", PLANS),)

    id: Mapped[IdPk]
    name: Mapped[str]
    plan: Mapped[str] = mapped_column(String(16), default="free")
    stripe_customer_id: Mapped[str | None]
    metadata_: Mapped[JsonDict] = mapped_column("metadata", default=dict)


class User(Timestamps, Base):
    """A person. The email (stored lower-case) is unique platform-wide: one person, one tenant."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email"),
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        one_of("role", USER_ROLES),
        Index("ix_users_tenant_id", "tenant_id"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str | None]
    name: Mapped[str]
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None]


class RefreshToken(CreatedAt, Base):
    """One opaque refresh token (stored hashed). Rotation links tokens of one login into a family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_user_id", "user_id"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    user_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[IdRef]
    token_hash: Mapped[str] = mapped_column(String(128))
    parent_id: Mapped[str | None] = mapped_column(UUID_TYPE)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)


class ApiKey(CreatedAt, Base):
    """A long-lived key for scripts and internal callers; shown once, stored hashed."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("key_hash"),
        Index("ix_api_keys_tenant_id", "tenant_id"),
        Index("ix_api_keys_user_id", "user_id"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    user_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str]
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[JsonList] = mapped_column(default=list)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class OAuthProvider(CreatedAt, Base):
    """A user's identity at an external OAuth provider; its tokens are stored encrypted."""

    __tablename__ = "oauth_providers"
    __table_args__ = (
        UniqueConstraint("provider", "provider_user_id"),
        Index("ix_oauth_providers_user_id", "user_id"),
    )

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(64))
    provider_user_id: Mapped[str]
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]


class SigningKey(CreatedAt, Base):
    """A JWT signing key pair: the private half encrypted at rest, the public half as a JWK."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[JsonDict]
    not_after: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
