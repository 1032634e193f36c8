import pytest
from sqlalchemy import text

from services.runtime.database import Database
from tests.unit.runtime.test_database import TRANSACTIONS, Begin, insert_then_fail

pytestmark = pytest.mark.integration


@TRANSACTIONS
async def test_postgres_transaction_and_ping(fresh_pg_database: str, begin: Begin) -> None:
    db = Database(fresh_pg_database)
    try:
        await db.ping()
        async with begin(db) as transaction:
            await transaction.execute(text("CREATE TABLE t (v INTEGER)"))
            await transaction.execute(text("INSERT INTO t VALUES (7)"))
        with pytest.raises(RuntimeError):
            await insert_then_fail(db, 8, begin)
        async with db.session() as session:
            values = (await session.execute(text("SELECT v FROM t"))).scalars().all()
    finally:
        await db.dispose()

    assert db.dialect == "postgresql"
    assert values == [7]


async def test_ping_raises_when_the_database_is_unreachable() -> None:
    db = Database("postgresql+psycopg://geko:geko@127.0.0.1:1/nowhere?connect_timeout=2")
    try:
        with pytest.raises(Exception, match=r"(?i)connect|refused"):
            await db.ping()
    finally:
        await db.dispose()
