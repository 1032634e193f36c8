import pytest
from sqlalchemy import text

from services.runtime.database import Database

pytestmark = pytest.mark.integration


async def _insert_then_fail(db: Database, value: int) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
        raise RuntimeError("boom")


async def test_postgres_transaction_and_ping(fresh_pg_database: str) -> None:
    db = Database(fresh_pg_database)
    try:
        await db.ping()
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (7)"))
        with pytest.raises(RuntimeError):
            await _insert_then_fail(db, 8)
        async with db.session() as session:
            values = (await session.execute(text("SELECT v FROM t"))).scalars().all()
    finally:
        await db.dispose()

    assert db.dialect == "postgresql"
    assert values == [7]


async def _core_write_then_fail(db: Database, statement: str) -> None:
    async with db.core_transaction() as connection:
        await connection.execute(text(statement))
        raise RuntimeError("boom")


async def test_postgres_core_transaction_commits_and_rolls_back(fresh_pg_database: str) -> None:
    db = Database(fresh_pg_database)
    try:
        async with db.core_transaction() as connection:
            await connection.execute(text("CREATE TABLE t (v INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (7)"))
        with pytest.raises(RuntimeError):
            await _core_write_then_fail(db, "INSERT INTO t VALUES (8)")
        async with db.session() as session:
            values = (await session.execute(text("SELECT v FROM t"))).scalars().all()
    finally:
        await db.dispose()

    assert values == [7]


async def test_ping_raises_when_the_database_is_unreachable() -> None:
    db = Database("postgresql+psycopg://geko:geko@127.0.0.1:1/nowhere?connect_timeout=2")
    try:
        with pytest.raises(Exception, match=r"(?i)connect|refused"):
            await db.ping()
    finally:
        await db.dispose()
