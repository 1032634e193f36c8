"""Alembic environment. Run through db/migrate.py, which opens an async connection and hands its sync
facade in `config.attributes["connection"]` (so migrations also run from inside a running event loop)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table
from sqlalchemy.engine import Connection

from db.models import Base  # the package import registers every table on Base.metadata

VERSION_TABLE = "alembic_version"


def _ensure_version_table(connection: Connection) -> None:
    """Create Alembic's version table with room for our readable revision ids (Alembic's own is VARCHAR(32);
    it keeps using a table that already exists)."""
    Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(64), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    ).create(connection, checkfirst=True)


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "run migrations through db.migrate (upgrade/downgrade), which supplies a connection"
        )
    _ensure_version_table(connection)
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
