"""Migrations on both dialects: up to head matches the models, seed is idempotent, down to base and up again.

SQLite runs on a temp file; PostgreSQL on a fresh database made for each test (marked integration).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from db import migrate
from db.models import Base
from db.models.model import ModelCatalog, ModelPrice
from db.models.workspace import RolePermission, WorkspaceRole
from db.seed import DEFAULT_ROLE_PERMISSIONS, MODEL_CATALOG, PERMISSIONS, seed
from services.runtime.database import Database

# The tables each revision adds, in order.
REVISION_TABLES = [
    ("001_tenants_users", {"tenants", "users"}),
    (
        "002_workspaces_members_roles_invitations",
        {"workspaces", "workspace_roles", "role_permissions", "workspace_members", "invitations"},
    ),
    (
        "003_models_mcps",
        {
            "model_catalog",
            "model_prices",
            "workspace_models",
            "provider_connections",
            "model_install_jobs",
            "mcp_servers",
            "workspace_mcps",
        },
    ),
    ("004_quotas_usage", {"quotas", "reservations", "token_usage", "cost_tracking"}),
    ("005_audit_logs", {"audit_logs", "outbox_events"}),
    ("006_sessions_oauth_apikeys", {"refresh_tokens", "oauth_providers", "api_keys", "signing_keys"}),
    ("007_indexes_constraints", set()),
    ("008_conversations_messages", {"conversations", "messages"}),
]
HEAD = REVISION_TABLES[-1][0]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each dialect."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'geko.db'}"
    return str(request.getfixturevalue("fresh_pg_database"))


async def _inspect(url: str, probe: Callable[[Connection], Any]) -> Any:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(probe)
    finally:
        await db.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _indexes(connection: Connection) -> set[str]:
    inspector = inspect(connection)
    return {str(ix["name"]) for table in inspector.get_table_names() for ix in inspector.get_indexes(table)}


async def _seed_and_count(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.transaction() as session:
            await seed(session)
        async with db.session() as session:
            return await _snapshot(session)
    finally:
        await db.dispose()


async def _snapshot(session: AsyncSession) -> dict[str, Any]:
    """What seed wrote, including timestamps, so a second run that rewrote anything shows up."""
    roles = (await session.scalars(select(WorkspaceRole).where(WorkspaceRole.workspace_id.is_(None)))).all()
    grants = (
        await session.execute(
            select(WorkspaceRole.name, RolePermission.permission).join(
                RolePermission, RolePermission.role_id == WorkspaceRole.id
            )
        )
    ).all()
    models = (await session.scalars(select(ModelCatalog).order_by(ModelCatalog.id))).all()
    prices = (await session.scalars(select(ModelPrice).order_by(ModelPrice.model_id))).all()
    by_role: dict[str, set[str]] = {}
    for role_name, permission in grants:
        by_role.setdefault(role_name, set()).add(permission)
    return {
        "roles": sorted((r.id, r.name, r.is_system, r.updated_at) for r in roles),
        "permissions": by_role,
        "models": [(m.id, m.min_plan, m.max_free_tokens_per_month, m.updated_at) for m in models],
        "prices": [(p.id, p.model_id, p.input_micros_per_1k, p.effective_from) for p in prices],
        "grant_rows": int(await session.scalar(select(func.count()).select_from(RolePermission)) or 0),
    }


def test_revisions_form_one_line_in_the_seed_order() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    walked = [rev.revision for rev in reversed(list(script.walk_revisions()))]

    assert walked == [name for name, _ in REVISION_TABLES]
    assert script.get_heads() == [HEAD]


async def test_upgrade_to_head_gives_exactly_the_models_schema(database_url: str) -> None:
    assert await migrate.current(database_url) is None

    await migrate.upgrade(database_url)

    assert await migrate.current(database_url) == HEAD
    assert await _inspect(database_url, _tables) == set(Base.metadata.tables) | {"alembic_version"}
    assert await _inspect(database_url, _schema_diff) == []
    declared = {index.name for table in Base.metadata.tables.values() for index in table.indexes}
    assert declared <= await _inspect(database_url, _indexes)


async def test_each_revision_adds_its_tables_and_its_downgrade_removes_them(database_url: str) -> None:
    expected = {"alembic_version"}
    for revision, tables in REVISION_TABLES:
        await migrate.upgrade(database_url, revision)
        expected |= tables
        assert await migrate.current(database_url) == revision
        assert await _inspect(database_url, _tables) == expected

    for index in reversed(range(len(REVISION_TABLES))):
        await migrate.downgrade(database_url, "-1")
        expected -= REVISION_TABLES[index][1]
        assert await migrate.current(database_url) == (REVISION_TABLES[index - 1][0] if index else None)
        assert await _inspect(database_url, _tables) == expected


async def test_secondary_indexes_come_with_007_and_go_with_its_downgrade(database_url: str) -> None:
    await migrate.upgrade(database_url)
    with_007 = await _inspect(database_url, _indexes)
    await migrate.downgrade(database_url, "006_sessions_oauth_apikeys")
    without_007 = await _inspect(database_url, _indexes)

    added = with_007 - without_007
    assert {"ix_users_tenant_id", "ix_token_usage_workspace_id_created_at"} <= added
    assert "ix_outbox_events_service_delivered_at" in added
    assert "uq_workspace_roles_system_name" in without_007


async def test_seed_twice_writes_the_catalog_and_matrix_once(database_url: str) -> None:
    await migrate.upgrade(database_url)

    first = await _seed_and_count(database_url)
    second = await _seed_and_count(database_url)

    assert first == second
    assert len(first["models"]) == len(MODEL_CATALOG) == 7
    assert len(first["prices"]) == 7
    assert len(first["roles"]) == 4
    assert all(is_system for _, _, is_system, _ in first["roles"])
    assert first["permissions"] == {name: set(perms) for name, perms in DEFAULT_ROLE_PERMISSIONS.items()}
    assert first["permissions"]["owner"] == set(PERMISSIONS)
    assert len(first["permissions"]["owner"]) >= 31
    assert "workspace:billing" not in first["permissions"]["admin"]
    assert "chat:create" not in first["permissions"]["viewer"]
    assert first["grant_rows"] == sum(len(perms) for perms in DEFAULT_ROLE_PERMISSIONS.values())
    gpt4 = next(p for p in first["prices"] if p[1] == "gpt-4")
    assert gpt4[2] == 30_000
    # Timestamps come back aware and in UTC on both dialects.
    assert gpt4[3] == datetime(2024, 1, 1, tzinfo=UTC)
    assert gpt4[3].tzinfo is UTC
    # Ids come back as canonical UUID strings on both dialects.
    role_id = first["roles"][0][0]
    assert isinstance(role_id, str)
    assert len(role_id) == 36
    assert role_id.count("-") == 4


async def test_seed_repairs_a_default_role_whose_permissions_drifted(database_url: str) -> None:
    await migrate.upgrade(database_url)
    await _seed_and_count(database_url)
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            viewer_id = await session.scalar(select(WorkspaceRole.id).where(WorkspaceRole.name == "viewer"))
            await session.execute(
                delete(RolePermission).where(
                    RolePermission.role_id == viewer_id, RolePermission.permission == "member:view"
                )
            )
            session.add(RolePermission(role_id=viewer_id, permission="chat:create"))
            catalog_row = await session.get(ModelCatalog, "gpt-4")
            assert catalog_row is not None
            catalog_row.min_plan = "free"
    finally:
        await db.dispose()

    repaired = await _seed_and_count(database_url)

    assert repaired["permissions"]["viewer"] == set(DEFAULT_ROLE_PERMISSIONS["viewer"])
    assert next(m for m in repaired["models"] if m[0] == "gpt-4")[1] == "pro"


async def test_down_to_base_leaves_only_the_version_table_and_up_again_works(database_url: str) -> None:
    await migrate.upgrade(database_url)
    await _seed_and_count(database_url)

    await migrate.downgrade(database_url)

    assert await migrate.current(database_url) is None
    assert await _inspect(database_url, _tables) == {"alembic_version"}

    await migrate.upgrade(database_url)

    assert await migrate.current(database_url) == HEAD
    assert await _inspect(database_url, _schema_diff) == []
    assert len((await _seed_and_count(database_url))["models"]) == 7


async def test_sqlite_upgrade_creates_the_file_and_its_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "geko.db"

    await migrate.upgrade(f"sqlite+aiosqlite:///{path}")

    assert path.is_file()
