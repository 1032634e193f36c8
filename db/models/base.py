"""The one declarative `Base`, the column types every table shares, and the created/updated mixins.

Constraint names come from a naming convention so that Alembic migrations name them the same way on
PostgreSQL and SQLite (and a later migration can drop them by name).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, Dialect, MetaData, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from services.runtime.clock import utcnow
from services.runtime.ids import new_id

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that only accepts aware datetimes and always returns aware UTC ones.

    SQLite has no time zone type: without this, values come back naive and compare wrongly with aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware one (services.runtime.clock)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A UUID kept as its canonical string in Python: native `uuid` on PostgreSQL, CHAR(32) on SQLite.
UUID_TYPE = Uuid(as_uuid=False)
JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")

# Annotated column kinds, so models read as `id: Mapped[IdPk]` and stay consistent across tables.
IdPk = Annotated[str, mapped_column(UUID_TYPE, primary_key=True, default=new_id)]
IdRef = Annotated[str, mapped_column(UUID_TYPE)]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime())]
JsonDict = Annotated[dict[str, Any], mapped_column(JSON_TYPE)]
JsonList = Annotated[list[Any], mapped_column(JSON_TYPE)]
Micros = Annotated[int, mapped_column(BigInteger)]  # money: integer micro-units, never floats
BigCount = Annotated[int, mapped_column(BigInteger)]


class Base(DeclarativeBase):
    """Declarative base of every GEKO table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        str: String(255),
    }


class CreatedAt:
    """A `created_at` set once, on insert."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, sort_order=100)


class Timestamps(CreatedAt):
    """`created_at` plus an `updated_at` that every ORM update refreshes."""

    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, sort_order=101
    )


def one_of(column: str, values: Iterable[str]) -> CheckConstraint:
    """A named CHECK constraint `column IN (...)` — the portable enum of both dialects."""
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)
