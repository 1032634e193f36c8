"""Reference data every installation starts with: the permission catalogue, the four default roles, the
platform model catalog with its prices, and the per-plan quotas.

`seed()` makes the database match these constants and is idempotent: run it on every start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.model import ModelCatalog, ModelPrice
from db.models.workspace import RolePermission, WorkspaceRole
from services.runtime.clock import utcnow
from services.runtime.ids import new_id

PERMISSIONS: dict[str, str] = {
    "chat:create": "Start chats and send messages",
    "chat:view:own": "Read one's own conversations",
    "chat:view:workspace": "Read every conversation of the workspace",
    "chat:delete": "Delete one's own conversations",
    "model:use:local": "Chat with local (Ollama) models",
    "model:use:free": "Chat with free-tier cloud models",
    "model:use:premium": "Chat with premium (paid) cloud models",
    "model:install": "Install local models into Ollama",
    "model:remove": "Remove installed local models",
    "model:configure": "Enable models and set their price overrides and token caps for the workspace",
    "member:invite": "Invite people to the workspace",
    "member:remove": "Remove members from the workspace",
    "member:role:update": "Change a member's role",
    "member:view": "See the workspace's members",
    "invitation:revoke": "Revoke or resend pending invitations",
    "role:create": "Create custom roles",
    "role:update": "Change custom roles and their permissions",
    "role:delete": "Delete custom roles",
    "workspace:config": "Change the workspace's name, icon and settings",
    "workspace:delete": "Delete the workspace",
    "workspace:billing": "Change the plan, payment method and budget",
    "billing:view": "See invoices, plan and spend",
    "usage:view:own": "See one's own token usage",
    "usage:view:workspace": "See the token usage of every member",
    "audit:view": "Read the audit log",
    "audit:export": "Export the audit log",
    "tool:use": "Let chats call the workspace's tools (MCP servers)",
    "tool:configure": "Add, enable and configure the workspace's tools",
    "apikey:create": "Create API keys",
    "apikey:revoke": "Revoke API keys",
    "conversation:share": "Share a conversation with the workspace",
}

_BILLING = frozenset({"workspace:billing", "billing:view"})
_VIEWER = frozenset({"chat:view:own", "chat:view:workspace", "member:view", "usage:view:own"})

# Roles nest: viewer ⊂ editor ⊂ admin ⊂ owner.
DEFAULT_ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset(PERMISSIONS),
    "admin": frozenset(PERMISSIONS) - _BILLING,
    # Chat, models and tools; installing/removing models is left to admins or a custom role.
    "editor": _VIEWER
    | {
        "chat:create",
        "chat:delete",
        "model:use:local",
        "model:use:free",
        "model:use:premium",
        "tool:use",
        "conversation:share",
        "apikey:create",
    },
    "viewer": _VIEWER,
}

ROLE_DESCRIPTIONS: dict[str, str] = {
    "owner": "Everything, including billing and deleting the workspace",
    "admin": "Everything except billing",
    "editor": "Chat with every model the workspace allows, use tools, share conversations",
    "viewer": "Read conversations and members (read-only)",
}


@dataclass(frozen=True)
class PlanQuota:
    """Monthly limits of a plan; -1 means unlimited."""

    tokens_limit: int
    requests_limit: int


PLAN_QUOTAS: dict[str, PlanQuota] = {
    "free": PlanQuota(tokens_limit=50_000, requests_limit=100),
    "pro": PlanQuota(tokens_limit=500_000, requests_limit=10_000),
    "paygo": PlanQuota(tokens_limit=-1, requests_limit=-1),
}

PRICES_EFFECTIVE_FROM = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CatalogModel:
    """One platform model and its launch price (micro-USD per 1k tokens, input and output alike)."""

    id: str
    provider: str
    name: str  # what the provider's API calls it
    display_name: str
    context_window: int
    max_output_tokens: int
    min_plan: str = "free"
    is_local: bool = False
    is_free: bool = False
    max_free_tokens_per_month: int | None = None
    micros_per_1k: int = 0

    def columns(self) -> dict[str, object]:
        """The model_catalog columns this entry sets."""
        return {
            "tenant_id": None,
            "provider": self.provider,
            "name": self.name,
            "display_name": self.display_name,
            "type": "chat",
            "is_local": self.is_local,
            "is_free": self.is_free,
            "min_plan": self.min_plan,
            "max_free_tokens_per_month": self.max_free_tokens_per_month,
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
        }


_FREE_CAP = 100_000

MODEL_CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel(
        id="gpt-4o-mini",
        provider="openai",
        name="gpt-4o-mini",
        display_name="GPT-4o Mini",
        context_window=128_000,
        max_output_tokens=16_384,
        is_free=True,
        max_free_tokens_per_month=_FREE_CAP,
    ),
    CatalogModel(
        id="gpt-4",
        provider="openai",
        name="gpt-4",
        display_name="GPT-4",
        context_window=8_192,
        max_output_tokens=4_096,
        min_plan="pro",
        micros_per_1k=30_000,
    ),
    CatalogModel(
        id="claude-haiku",
        provider="anthropic",
        name="claude-3-haiku-20240307",
        display_name="Claude Haiku",
        context_window=200_000,
        max_output_tokens=4_096,
        is_free=True,
        max_free_tokens_per_month=_FREE_CAP,
    ),
    CatalogModel(
        id="claude-3-5-sonnet",
        provider="anthropic",
        name="claude-3-5-sonnet-latest",
        display_name="Claude 3.5 Sonnet",
        context_window=200_000,
        max_output_tokens=8_192,
        min_plan="pro",
        micros_per_1k=15_000,
    ),
    CatalogModel(
        id="llama2",
        provider="ollama",
        name="llama2",
        display_name="Llama 2 7B",
        context_window=4_096,
        max_output_tokens=2_048,
        is_local=True,
        is_free=True,
        max_free_tokens_per_month=_FREE_CAP,
    ),
    CatalogModel(
        id="mistral",
        provider="ollama",
        name="mistral",
        display_name="Mistral 7B",
        context_window=32_768,
        max_output_tokens=4_096,
        is_local=True,
        is_free=True,
        max_free_tokens_per_month=_FREE_CAP,
    ),
    CatalogModel(
        id="deepseek-r1",
        provider="deepseek",
        name="deepseek-reasoner",
        display_name="DeepSeek R1",
        context_window=65_536,
        max_output_tokens=8_192,
        min_plan="pro",
        micros_per_1k=2_000,
    ),
)


async def seed(session: AsyncSession) -> None:
    """Brings roles, permissions, catalog and prices in line with the constants above.

    Runs in the caller's transaction (the caller commits). Only differences are written, so a second run
    changes nothing; a default role whose permissions changed in code gets them updated.
    """
    await _seed_roles(session)
    await _seed_catalog(session)
    await session.flush()


async def _seed_roles(session: AsyncSession) -> None:
    system_roles = await session.scalars(select(WorkspaceRole).where(WorkspaceRole.workspace_id.is_(None)))
    by_name = {role.name: role for role in system_roles}
    for name, wanted in DEFAULT_ROLE_PERMISSIONS.items():
        role = by_name.get(name)
        if role is None:
            role = WorkspaceRole(id=new_id(), name=name, is_system=True)
            session.add(role)
        role.description = ROLE_DESCRIPTIONS[name]
        granted = set(
            await session.scalars(select(RolePermission.permission).where(RolePermission.role_id == role.id))
        )
        session.add_all(RolePermission(role_id=role.id, permission=p) for p in sorted(wanted - granted))
        if stale := granted - wanted:
            await session.execute(
                delete(RolePermission).where(
                    RolePermission.role_id == role.id, RolePermission.permission.in_(stale)
                )
            )
        if stale or wanted - granted:
            role.updated_at = utcnow()


async def _seed_catalog(session: AsyncSession) -> None:
    ids = [entry.id for entry in MODEL_CATALOG]
    existing = await session.scalars(select(ModelCatalog).where(ModelCatalog.id.in_(ids)))
    rows = {row.id: row for row in existing}
    for entry in MODEL_CATALOG:
        row = rows.get(entry.id)
        if row is None:
            row = ModelCatalog(id=entry.id)
            session.add(row)
        for column, value in entry.columns().items():
            setattr(row, column, value)  # an equal value is no change: no UPDATE is written
    await session.flush()  # prices refer to catalog rows

    prices = {
        price.model_id: price
        for price in await session.scalars(
            select(ModelPrice).where(
                ModelPrice.model_id.in_(ids), ModelPrice.effective_from == PRICES_EFFECTIVE_FROM
            )
        )
    }
    for entry in MODEL_CATALOG:
        price = prices.get(entry.id)
        if price is None:
            price = ModelPrice(model_id=entry.id, currency="USD", effective_from=PRICES_EFFECTIVE_FROM)
            session.add(price)
        price.input_micros_per_1k = entry.micros_per_1k
        price.output_micros_per_1k = entry.micros_per_1k
