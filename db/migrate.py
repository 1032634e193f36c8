"""Schema migrations as three coroutines, for `geko migrate`, `geko up` and tests.

Alembic is configured in code (no alembic.ini). Its command API is synchronous, so it runs on the sync
facade of an async connection (`run_sync`): safe to await from inside a running event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.runtime.database import create_engine_for_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrates the database at `url` up to `revision` (a SQLite file and its directory are created)."""
    await _run(url, lambda config: command.upgrade(config, revision))


async def downgrade(url: str, revision: str = "base") -> None:
    """Migrates the database at `url` down to `revision`; "base" drops every table."""
    await _run(url, lambda config: command.downgrade(config, revision))


async def current(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = _migration_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def alembic_config() -> Config:
    """Alembic's configuration, built in code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


async def _run(url: str, action: Callable[[Config], None]) -> None:
    engine = _migration_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_with_connection, action)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, action: Callable[[Config], None]) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    action(config)


def _migration_engine(url: str) -> AsyncEngine:
    """The runtime's engine (on SQLite it issues BEGIN itself, so DDL stays inside the migration's
    transaction), with foreign keys off on SQLite: batch mode copies and drops tables, and an enforced key
    would cascade the drop into child rows."""
    engine = create_engine_for_url(url, pool_size=1, max_overflow=0)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_for_migrations)
    return engine


def _sqlite_for_migrations(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=OFF")
    finally:
        cursor.close()
