"""The one declarative `Base`, the column types every table shares, and the created/updated mixins.

Constraint names come from a naming convention so that Alembic migrations name them the same way on
PostgreSQL and SQLite (and a later migration can drop them by name).
"""

from __future__ import annotations

import re
import uuid
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


def _in_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware one (services.runtime.clock)")
    return value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    return _in_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that only accepts aware datetimes and always returns aware UTC ones.

    SQLite has no time zone type: without this, values come back naive and compare wrongly with aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _in_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, `process_bind_param` then SQLite's DATETIME text (default storage format) at once:
        SQLAlchemy's formats through a dict of seven fields, for every timestamp a write binds."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_HEX32 = re.compile("[0-9a-f]{32}").fullmatch


def _canonical_uuid(stored: str | None) -> str | None:
    """The canonical form of a UUID stored as 32 hex digits, as `str(uuid.UUID(stored))` gives it, by slicing
    when it is in the form our writes leave (lowercase): ~0.4 µs instead of ~4 for every id read."""
    if stored is None:
        return None
    if _HEX32(stored):
        return f"{stored[:8]}-{stored[8:12]}-{stored[12:16]}-{stored[16:20]}-{stored[20:]}"
    return str(uuid.UUID(stored))


class CanonicalUuid(Uuid[str]):
    """`Uuid(as_uuid=False)` whose values stored as text (SQLite) are read by `_canonical_uuid`; a statement
    that returns a few ids (a quota row has three) spent more on reading them than SQLite on the statement."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.supports_native_uuid and self.native_uuid:
            return super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]
        return _canonical_uuid


# A UUID kept as its canonical string in Python: native `uuid` on PostgreSQL, CHAR(32) on SQLite.
UUID_TYPE = CanonicalUuid(as_uuid=False)
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
