"""Fixtures shared by every test package: settings in a temp dir, and real PostgreSQL / Redis locations."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from services.runtime.context import (
    current_peer_ip,
    current_principal,
    current_request_id,
    current_user_agent,
)
from services.runtime.ids import new_id
from services.runtime.settings import Settings

DEFAULT_PG_URL = "postgresql+psycopg://geko:geko@127.0.0.1:5432/geko_test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(autouse=True)
def _clear_request_context() -> None:
    """No test starts as someone: a principal or request id set by an earlier test must not leak in."""
    for var in (current_principal, current_request_id, current_peer_ip, current_user_agent):
        var.set(None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings isolated in tmp_path (SQLite file, key file); no .env or GEKO_* leaks in."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}",
        redis_url=None,
        secret_key=None,
        log_json=True,
    )


@pytest.fixture(scope="session")
def pg_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL database (a superuser role, so tests may create databases)."""
    return os.environ.get("GEKO_TEST_DATABASE_URL", DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("GEKO_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def _libpq_conninfo(url: str) -> str:
    """The psycopg connection string of a SQLAlchemy URL (drops the `+psycopg` driver part)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def fresh_pg_database(pg_url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test; yields its SQLAlchemy URL and drops it afterwards."""
    name = "geko_t_" + new_id().replace("-", "")[:24]
    admin = _libpq_conninfo(pg_url)
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            await conn.execute(drop)
