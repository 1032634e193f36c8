"""The shared column types: aware UTC datetimes on both dialects, naive ones refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect, make_url

from db.models import Base
from db.models.base import UTCDateTime

PARIS_SUMMER = timezone(timedelta(hours=2))


def _dialect(url: str) -> Dialect:
    return make_url(url).get_dialect()()


def test_sqlite_stores_naive_utc_and_returns_aware_utc() -> None:
    column = UTCDateTime()
    dialect = _dialect("sqlite+aiosqlite://")
    local = datetime(2024, 6, 1, 14, 0, tzinfo=PARIS_SUMMER)

    stored = column.process_bind_param(local, dialect)
    loaded = column.process_result_value(stored, dialect)

    assert stored == datetime(2024, 6, 1, 12, 0)
    assert loaded == local
    assert loaded is not None
    assert loaded.tzinfo is UTC


def test_postgresql_keeps_the_offset_and_returns_utc() -> None:
    column = UTCDateTime()
    dialect = _dialect("postgresql+psycopg://")
    local = datetime(2024, 6, 1, 14, 0, tzinfo=PARIS_SUMMER)

    stored = column.process_bind_param(local, dialect)
    loaded = column.process_result_value(local, dialect)

    assert stored == local
    assert stored is not None
    assert stored.tzinfo is UTC
    assert loaded is not None
    assert loaded.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), _dialect("sqlite+aiosqlite://"))


def test_constraint_names_follow_the_naming_convention() -> None:
    users = Base.metadata.tables["users"]

    names = {constraint.name for constraint in users.constraints}

    assert {"pk_users", "uq_users_email", "ck_users_role", "fk_users_tenant_id_tenants"} <= names
    assert all(len(str(c.name)) <= 63 for t in Base.metadata.tables.values() for c in t.constraints)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 6, 1, 14, 0, tzinfo=PARIS_SUMMER),
        datetime(2024, 6, 1, 12, 0, 0, 5, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sqlite_binds_the_text_sqlalchemys_datetime_would(moment: datetime) -> None:
    dialect = _dialect("sqlite+aiosqlite://")
    naive = UTCDateTime().process_bind_param(moment, dialect)
    sqlalchemys = DateTime().dialect_impl(dialect).bind_processor(dialect)

    assert UTCDateTime().bind_processor(dialect)(moment) == sqlalchemys(naive)
    assert UTCDateTime().bind_processor(dialect)(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().bind_processor(dialect)(datetime(2024, 1, 1))
