import asyncio
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from services.runtime import wal_checkpoint
from services.runtime.database import Database
from services.runtime.sqlite_inline import InlineConnection, InlineCoreConnection
from services.runtime.wal_checkpoint import WalCheckpointer

# Both kinds of write transaction: on an ORM session, and on a bare connection.
Begin = Callable[[Database], AbstractAsyncContextManager[Any]]
TRANSACTIONS = pytest.mark.parametrize("begin", [Database.transaction, Database.core_transaction])


async def insert_then_fail(db: Database, value: int, begin: Begin) -> None:
    async with begin(db) as transaction:
        await transaction.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
        raise RuntimeError("boom")


async def test_sqlite_connections_get_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'geko.db'}")
    try:
        async with db.session() as session:
            pragmas = [
                (await session.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            ]
        await db.ping()
    finally:
        await db.dispose()

    assert pragmas == ["wal", 1, 5000, 1]
    assert db.dialect == "sqlite"


@TRANSACTIONS
async def test_transaction_commits_on_success_and_rolls_back_on_error(tmp_path: Path, begin: Begin) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}")
    try:
        async with begin(db) as transaction:
            await transaction.execute(text("CREATE TABLE t (v INTEGER)"))
            await transaction.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(RuntimeError):
            await insert_then_fail(db, 2, begin)
        async with db.session() as session:
            values = (await session.execute(text("SELECT v FROM t"))).scalars().all()
    finally:
        await db.dispose()

    assert values == [1]


async def _read_then_increment(db: Database, begin: Begin) -> None:
    async with begin(db) as transaction:
        n = (await transaction.execute(text("SELECT n FROM counter"))).scalar_one()
        await asyncio.sleep(0.01)  # let the other transactions run their read meanwhile, if they can
        await transaction.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})


@TRANSACTIONS
async def test_sqlite_read_modify_write_transactions_do_not_lose_updates(
    tmp_path: Path, begin: Begin
) -> None:
    # The driver alone would run the SELECT outside any transaction: five increments would end as 1.
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE counter (n INTEGER)"))
            await session.execute(text("INSERT INTO counter VALUES (0)"))
        await asyncio.gather(*(_read_then_increment(db, begin) for _ in range(5)))
        async with db.session() as session:
            n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
    finally:
        await db.dispose()

    assert n == 5


async def test_a_core_transaction_holds_the_sqlite_write_lock_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "geko.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, timeout=0)
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
        async with db.core_transaction() as connection:
            await connection.execute(text("SELECT 1"))  # a read only, yet another writer must wait
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO t VALUES (2)")
    finally:
        other.close()
        await db.dispose()


async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE p (id INTEGER PRIMARY KEY)"))
            await session.execute(text("CREATE TABLE c (p_id INTEGER REFERENCES p(id))"))
        with pytest.raises(Exception, match="FOREIGN KEY"):
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO c VALUES (42)"))
    finally:
        await db.dispose()


def test_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        Database("mysql+aiomysql://u:p@localhost/db")


async def test_sqlite_statements_run_on_the_loop_thread_with_no_worker_thread(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    threads_before = threading.active_count()
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (1), (2)"))
        async with database.session() as session:
            rows = (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
            raw = await session.connection()
            driver = (await raw.get_raw_connection()).driver_connection
        threads_during = threading.active_count()
    finally:
        await database.dispose()

    assert rows == [1, 2]
    assert isinstance(driver, InlineConnection)
    assert threads_during == threads_before


async def test_core_writers_on_a_sqlite_file_run_synchronously_with_the_same_settings(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE p (id INTEGER PRIMARY KEY)"))
            await session.execute(text("CREATE TABLE c (p_id INTEGER REFERENCES p(id))"))
        async with db.core_transaction() as connection:
            pragmas = [
                await connection.scalar(text(f"PRAGMA {name}"))
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            ]
            await connection.execute(text("INSERT INTO p VALUES (1), (2)"))
            ids = (await connection.scalars(text("SELECT id FROM p ORDER BY id"))).all()
            counted = await connection.run_sync(
                lambda sync: sync.execute(text("SELECT count(*) FROM p")).scalar()
            )
        with pytest.raises(Exception, match="FOREIGN KEY"):
            async with db.core_transaction() as failing:
                await failing.execute(text("INSERT INTO c VALUES (42)"))
        async with db.session() as session:
            seen = (await session.execute(text("SELECT count(*) FROM p"))).scalar()
    finally:
        await db.dispose()

    assert isinstance(connection, InlineCoreConnection)
    assert pragmas == ["wal", 1, 5000, 1]
    assert (ids, counted, seen) == ([1, 2], 2, 2)


async def test_an_in_memory_database_keeps_its_core_writers_on_its_one_connection() -> None:
    db = Database("sqlite+aiosqlite://")
    try:
        async with db.core_transaction() as connection:
            await connection.execute(text("CREATE TABLE t (v INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        async with db.core_transaction() as connection:
            values = (await connection.scalars(text("SELECT v FROM t"))).all()
    finally:
        await db.dispose()

    assert not isinstance(connection, InlineCoreConnection)
    assert values == [1]


async def test_the_inline_writers_wal_is_checkpointed_in_a_worker_thread_not_in_their_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_checkpoint, "INTERVAL_SECONDS", 0.01)
    checkpoints: list[str] = []
    checkpoint = WalCheckpointer._checkpoint

    def spy(self: WalCheckpointer) -> None:
        checkpoints.append(threading.current_thread().name)
        checkpoint(self)

    monkeypatch.setattr(WalCheckpointer, "_checkpoint", spy)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
        await asyncio.sleep(0.05)
        before_any_core_write = list(checkpoints)
        async with db.core_transaction() as connection:
            autocheckpoint = await connection.scalar(text("PRAGMA wal_autocheckpoint"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        for _ in range(200):
            if checkpoints:
                break
            await asyncio.sleep(0.01)
    finally:
        await db.dispose()

    assert autocheckpoint == 0  # the commits on the loop never copy the WAL into the file
    assert before_any_core_write == []
    assert checkpoints
    assert threading.main_thread().name not in checkpoints
