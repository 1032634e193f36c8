import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, event, exc, insert, select, update

from db.models.base import UUID_TYPE, UTCDateTime, _canonical_uuid
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.ids import new_id
from services.runtime.sqlite_prepared import prepared

METADATA = MetaData()
THINGS = Table(
    "things",
    METADATA,
    Column("id", UUID_TYPE, primary_key=True),
    Column("owner_id", UUID_TYPE, nullable=False),
    Column("name", String(32), nullable=False),
    Column("n", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
)
INSERT = insert(THINGS)
BY_OWNER = select(THINGS).where(THINGS.c.owner_id == bindparam("owner"), THINGS.c.name != "hidden")
BUMP = (
    update(THINGS)
    .where(THINGS.c.id == bindparam("thing"))
    .values(n=THINGS.c.n + bindparam("by", type_=Integer), at=bindparam("now", type_=UTCDateTime()))
    .returning(THINGS.c.id, THINGS.c.n, THINGS.c.at)
)
RENAME = update(THINGS).where(THINGS.c.owner_id == bindparam("owner")).values(name=bindparam("new_name"))
BY_IDS = select(THINGS.c.name).where(THINGS.c.id.in_(bindparam("ids", expanding=True)))
OWNER = new_id()
AT = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)


def thing(name: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"id": new_id(), "owner_id": OWNER, "name": name, "n": n, "at": AT, **extra}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def through_sqlalchemy(db: Database) -> list[str]:
    """The statements the inline writers' engine ran through SQLAlchemy's execution (not prepared)."""
    statements: list[str] = []
    engine = db._inline_engine
    assert engine is not None
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0]))
    return statements


async def test_prepared_statements_answer_as_sqlalchemy_does_without_its_execution(
    db: Database, through_sqlalchemy: list[str]
) -> None:
    rows = [thing("a", 1, created_at=AT), thing("b", 2, created_at=AT), thing("hidden", 3, created_at=AT)]
    async with db.core_transaction() as connection:
        await connection.execute(prepared(INSERT), rows)  # executemany
        fast = (await connection.execute(prepared(BY_OWNER), {"owner": OWNER})).all()
        slow = (await connection.execute(BY_OWNER, {"owner": OWNER})).all()
        fast_maps = (await connection.execute(prepared(BY_OWNER), {"owner": OWNER})).mappings().all()
        bumped = (
            await connection.execute(prepared(BUMP), {"thing": rows[0]["id"], "by": 10, "now": AT})
        ).one()
        renamed = await connection.execute(prepared(RENAME), {"owner": OWNER, "new_name": "c"})

    assert through_sqlalchemy == ["SELECT"]  # only the unmarked statement
    assert [tuple(row) for row in fast] == [tuple(row) for row in slow]
    assert [row._mapping for row in fast] == [dict(row._mapping) for row in slow] == fast_maps
    assert (fast[0].id, fast[0].owner_id, fast[0].at) == (rows[0]["id"], OWNER, AT)
    assert fast[0].at.tzinfo is UTC
    assert (bumped.id, bumped.n, bumped.at) == (rows[0]["id"], 11, AT)
    assert renamed.rowcount == 3


async def test_a_statement_prepared_runs_again_from_its_compiled_form_with_new_values(
    db: Database, through_sqlalchemy: list[str]
) -> None:
    row = thing("a", 1, created_at=AT)
    async with db.core_transaction() as connection:
        await connection.execute(prepared(INSERT), row)
    bump = prepared(BUMP)
    for by in (1, 2, 3):
        async with db.core_transaction() as connection:
            result = await connection.run_sync(
                lambda conn, by=by: conn.execute(bump, {"thing": row["id"], "by": by, "now": AT}).first()
            )
            assert result.n == 1 + sum(range(1, by + 1))
    assert through_sqlalchemy == []


async def test_statements_that_need_sqlalchemys_execution_still_run_through_it(
    db: Database, through_sqlalchemy: list[str]
) -> None:
    row = thing("a", 1)  # no created_at: its Python-side default must be filled in
    before = utcnow()
    async with db.core_transaction() as connection:
        await connection.execute(prepared(INSERT), row)
        names = (await connection.execute(prepared(BY_IDS), {"ids": [row["id"], new_id()]})).scalars().all()
        stored = (await connection.execute(prepared(BY_OWNER), {"owner": OWNER})).one()

    assert through_sqlalchemy == ["INSERT", "SELECT"]
    assert names == ["a"]
    assert before <= stored.created_at <= utcnow()


async def insert_two(db: Database, first: dict[str, Any], second: dict[str, Any]) -> None:
    async with db.core_transaction() as connection:
        await connection.execute(prepared(INSERT), first)
        await connection.execute(prepared(INSERT), second)


async def test_errors_are_sqlalchemys_and_roll_the_transaction_back(db: Database) -> None:
    row = thing("a", 1, created_at=AT)
    async with db.core_transaction() as connection:
        await connection.execute(prepared(INSERT), row)

    with pytest.raises(exc.IntegrityError):
        await insert_two(db, thing("b", 2, created_at=AT), row)  # its primary key again
    async with db.core_transaction() as connection:
        with pytest.raises(exc.InvalidRequestError, match="bind parameter 'by'"):
            await connection.execute(prepared(BUMP), {"thing": row["id"], "now": AT})
        stored = (await connection.execute(prepared(BY_OWNER), {"owner": OWNER})).all()
        nothing = await connection.execute(prepared(BY_OWNER), {"owner": new_id()})
        with pytest.raises(exc.NoResultFound):
            nothing.one()
        await connection.execute(prepared(INSERT), thing("c", 3, created_at=AT))
        two = await connection.execute(prepared(BY_OWNER), {"owner": OWNER})
        with pytest.raises(exc.MultipleResultsFound):
            two.one()
        renamed = await connection.execute(prepared(RENAME), {"owner": OWNER, "new_name": "d"})
        with pytest.raises(exc.ResourceClosedError):
            renamed.first()

    assert [(each.name, each.n) for each in stored] == [("a", 1)]


def test_uuids_stored_as_text_read_back_in_their_canonical_form() -> None:
    value = uuid.uuid4()
    assert _canonical_uuid(value.hex) == str(value)
    assert _canonical_uuid(value.hex.upper()) == str(value)  # written by another client
    assert _canonical_uuid(str(value)) == str(value)
    assert _canonical_uuid(None) is None
    with pytest.raises(ValueError, match="badly formed"):
        _canonical_uuid("not a uuid")
