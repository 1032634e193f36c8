"""Tables of the model service (catalog and its dated prices, workspace model settings, provider connections,
local install jobs, the MCP server registry and workspace MCP settings).

Owned by services/model: no other service reads or writes them; chat and billing ask the model service.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import (
    UUID_TYPE,
    Base,
    BigCount,
    CreatedAt,
    IdPk,
    IdRef,
    JsonDict,
    Micros,
    Timestamps,
    one_of,
)
from services.runtime.ids import new_id
from services.runtime.plans import PLANS

MODEL_TYPES = ("chat", "embedding", "image")
PROVIDER_KINDS = ("openai", "anthropic", "ollama")
INSTALL_STATUSES = ("queued", "downloading", "verifying", "ready", "error")
MCP_TRANSPORTS = ("stdio", "sse", "http")
# Catalog ids are readable strings ("gpt-4o-mini"); tenant-added models get a generated UUID string.
ModelId = String(128)


class ProviderConnection(Timestamps, Base):
    """A tenant's named connection to a provider; the API key is stored encrypted and never returned."""

    __tablename__ = "provider_connections"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), one_of("kind", PROVIDER_KINDS))

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(String(1024))
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)


class ModelCatalog(Timestamps, Base):
    """A model users can pick: the platform's (no tenant) or one a tenant added through a connection."""

    __tablename__ = "model_catalog"
    __table_args__ = (
        one_of("min_plan", PLANS),
        one_of("type", MODEL_TYPES),
        Index("ix_model_catalog_tenant_id", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(ModelId, primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(UUID_TYPE)
    provider: Mapped[str] = mapped_column(String(64))
    name: Mapped[str]
    display_name: Mapped[str]
    type: Mapped[str] = mapped_column(String(16), default="chat")
    is_local: Mapped[bool] = mapped_column(Boolean, default=False)
    is_free: Mapped[bool] = mapped_column(Boolean, default=False)
    min_plan: Mapped[str] = mapped_column(String(16), default="free")
    # Per-workspace monthly cap on a free-tier model; NULL means no per-model cap.
    max_free_tokens_per_month: Mapped[int | None] = mapped_column(BigInteger)
    context_window: Mapped[int] = mapped_column(Integer)
    max_output_tokens: Mapped[int] = mapped_column(Integer)
    connection_id: Mapped[str | None] = mapped_column(
        UUID_TYPE, ForeignKey("provider_connections.id", ondelete="CASCADE")
    )
    metadata_: Mapped[JsonDict] = mapped_column("metadata", default=dict)


class ModelPrice(CreatedAt, Base):
    """A model's price from `effective_from` on: versioned, never edited, so past usage keeps its cost."""

    __tablename__ = "model_prices"
    __table_args__ = (UniqueConstraint("model_id", "effective_from"),)

    id: Mapped[IdPk]
    model_id: Mapped[str] = mapped_column(ModelId, ForeignKey("model_catalog.id", ondelete="CASCADE"))
    input_micros_per_1k: Mapped[Micros]
    output_micros_per_1k: Mapped[Micros]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    effective_from: Mapped[datetime]


class WorkspaceModel(Base):
    """A workspace's setting for one model: enabled or not, install state, its own price and token cap."""

    __tablename__ = "workspace_models"
    __table_args__ = (UniqueConstraint("workspace_id", "model_id"),)

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[IdRef]
    model_id: Mapped[str] = mapped_column(ModelId, ForeignKey("model_catalog.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="available")
    installed_at: Mapped[datetime | None]
    custom_cost_override_micros: Mapped[int | None] = mapped_column(BigInteger)
    max_tokens_override: Mapped[int | None] = mapped_column(Integer)


class ModelInstallJob(Timestamps, Base):
    """A pull of a local model into Ollama, with its progress in bytes."""

    __tablename__ = "model_install_jobs"
    __table_args__ = (
        one_of("status", INSTALL_STATUSES),
        Index("ix_model_install_jobs_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    model_id: Mapped[str] = mapped_column(ModelId)
    created_by: Mapped[str | None] = mapped_column(UUID_TYPE)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    completed_bytes: Mapped[BigCount] = mapped_column(default=0)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)


class McpServer(CreatedAt, Base):
    """An MCP tool server in the registry: the platform's (no tenant) or a tenant's own."""

    __tablename__ = "mcp_servers"
    __table_args__ = (
        one_of("transport", MCP_TRANSPORTS),
        Index("ix_mcp_servers_tenant_id", "tenant_id"),
    )

    id: Mapped[IdPk]
    tenant_id: Mapped[str | None] = mapped_column(UUID_TYPE)
    name: Mapped[str]
    transport: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(String(1024))
    command: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    metadata_: Mapped[JsonDict] = mapped_column("metadata", default=dict)


class WorkspaceMcp(Base):
    """A workspace's setting for one MCP server."""

    __tablename__ = "workspace_mcps"
    __table_args__ = (UniqueConstraint("workspace_id", "mcp_id"),)

    id: Mapped[IdPk]
    tenant_id: Mapped[IdRef]
    workspace_id: Mapped[IdRef]
    mcp_id: Mapped[str] = mapped_column(UUID_TYPE, ForeignKey("mcp_servers.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[JsonDict] = mapped_column(default=dict)
