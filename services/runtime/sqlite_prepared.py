"""The hot statements of the inline SQLite writers, run from the SQL SQLAlchemy compiled for them once.

Why: SQLAlchemy's execution of a cached Core statement costs ~40-70 µs of CPU (cache lookup, execution
context, parameter dict, result metadata), sqlite3 itself ~6 µs for the same primary-key UPDATE. The
embedded mode's chat turn runs ~14 such statements on the event loop's thread, about a quarter of a turn's
CPU. A statement marked with `prepared()` runs here instead, from what SQLAlchemy compiled for it: the same
SQL text, its bind parameters' values, defaults and bind processors, its columns' result processors.

What is kept as it was: the parameter rules of `construct_params` (a parameter by key or by name, a fixed
value or callable otherwise, an error naming a missing required one), driver errors raised as SQLAlchemy's
(`IntegrityError`, ...), the result's `first`/`one`/`all`/`scalar`/`mappings`/`rowcount`, rows with
attribute, index and `_mapping` access. What needs SQLAlchemy's execution context is refused, and such a
statement runs through SQLAlchemy as before: Python-side column defaults to fill, expanding (IN) or
literal-execute parameters, escaped parameter names, RETURNING with executemany, result keys that are not
attribute names. Elsewhere (PostgreSQL, a session) the mark is an unused execution option.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from keyword import iskeyword
from typing import Any, TypeVar, cast

from sqlalchemy import ClauseElement, Connection, Executable, exc
from sqlalchemy.engine import Dialect

E = TypeVar("E", bound=Executable)

_MARK = "geko_prepared"


def prepared(statement: E) -> E:
    """`statement`, marked to run from its compiled SQL on the inline SQLite writers' connection. For
    statements built once and kept: each one's compiled forms are kept as long as the process."""
    return statement.execution_options(**{_MARK: True})


class _Refused(Exception):
    """A statement this module cannot run as SQLAlchemy would; SQLAlchemy runs it."""


_Argument = tuple[str, str, bool, Any, Callable[[], Any] | None, Callable[[Any], Any] | None]


class _Plan:
    """One statement compiled for one set of parameter keys: its SQL, how each positional argument is made
    (parameter key, name, required, fixed value, callable, bind processor), and for row-returning statements
    the row class and result processors."""

    __slots__ = ("arguments", "processors", "row", "sql")

    def __init__(self, statement: Executable, dialect: Dialect, keys: Sequence[str], many: bool) -> None:
        compiled: Any = cast(ClauseElement, statement).compile(
            dialect=dialect, column_keys=sorted(keys), for_executemany=many
        )
        if (
            compiled.positiontup is None
            or compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.literal_execute_params
            or compiled.post_compile_params
            or compiled.escaped_bind_names
            or getattr(compiled, "_collected_params", None)
        ):
            raise _Refused
        processors = compiled._bind_processors
        arguments: list[_Argument] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            arguments.append((bind.key, name, bind.required, bind.value, bind.callable, processors.get(name)))
        self.sql: str = compiled.string
        self.arguments = tuple(arguments)
        columns = compiled._result_columns
        self.row: type[tuple[Any, ...]] | None = None
        self.processors: tuple[Callable[[Any], Any] | None, ...] = ()
        if columns:
            if many:
                raise _Refused
            keys_out = [column.keyname for column in columns]
            if len(set(keys_out)) != len(keys_out) or not all(_attribute_name(key) for key in keys_out):
                raise _Refused
            self.row = _row_class(keys_out)
            self.processors = tuple(column.type._cached_result_processor(dialect, None) for column in columns)

    def bind(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for one set of `parameters`, as `construct_params` and the bind
        processors would make them."""
        values = []
        for key, name, required, fixed, make, process in self.arguments:
            if key in parameters:
                value = parameters[key]
            elif name in parameters:
                value = parameters[name]
            elif required:
                raise exc.InvalidRequestError(f"A value is required for bind parameter {key!r}", code="cd3x")
            else:
                value = make() if make is not None else fixed
            values.append(value if process is None else process(value))
        return values


def _attribute_name(key: object) -> bool:
    return isinstance(key, str) and key.isidentifier() and not key.startswith("_") and not iskeyword(key)


def _row_class(keys: Sequence[str]) -> type[tuple[Any, ...]]:
    base = namedtuple("Row", keys)  # type: ignore[misc]

    class Row(base):
        """A result row: by attribute, by index, or as a mapping (`_mapping`), like SQLAlchemy's."""

        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(self._fields, self, strict=True))

    return Row


class PreparedResult:
    """What a prepared statement returned, fetched at once (rows are few, and SQLite finishes a DML
    statement's work only when its rows are read)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any] | None, rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def _all(self) -> list[Any]:
        if self._rows is None:
            raise exc.ResourceClosedError("This result object does not return rows.")
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._all())

    def all(self) -> list[Any]:
        return list(self._all())

    def first(self) -> Any:
        rows = self._all()
        return rows[0] if rows else None

    def one(self) -> Any:
        rows = self._all()
        if not rows:
            raise exc.NoResultFound("No row was found when one was required")
        if len(rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return rows[0]

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def mappings(self) -> PreparedResult:
        return PreparedResult([row._mapping for row in self._all()], self.rowcount)


class PreparedStatements:
    """The compiled forms of the marked statements run on one SQLite engine's connections."""

    def __init__(self) -> None:
        self._plans: dict[tuple[Executable, tuple[str, ...], bool], _Plan | None] = {}

    def run(self, connection: Connection, statement: Executable, parameters: Any) -> Any:
        """`connection.execute(statement, parameters)`, from the compiled SQL when `statement` is marked and
        can run so; a `PreparedResult` then, SQLAlchemy's result otherwise."""
        plan = self._plan(connection.dialect, statement, parameters)
        if plan is None:
            return connection.execute(statement, parameters)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if isinstance(parameters, list):
                arguments: Any = [plan.bind(each) for each in parameters]
                cursor.executemany(plan.sql, arguments)
            else:
                arguments = plan.bind(parameters or {})
                cursor.execute(plan.sql, arguments)
            rows = None if plan.row is None else _rows(plan.row, plan.processors, cursor.fetchall())
            return PreparedResult(rows, cursor.rowcount)
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(
                plan.sql, arguments, error, sqlite3.Error, dialect=connection.dialect
            ) from error
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect, statement: Executable, parameters: Any) -> _Plan | None:
        if not statement._execution_options.get(_MARK):
            return None
        many = isinstance(parameters, list)
        if many and not parameters:
            return None
        first = parameters[0] if many else parameters or {}
        keys = tuple(first)
        key = (statement, keys, many)
        try:
            return self._plans[key]
        except KeyError:
            pass
        try:
            plan: _Plan | None = _Plan(statement, dialect, keys, many)
        except _Refused:
            plan = None
        self._plans[key] = plan
        return plan


def _rows(
    row: type[tuple[Any, ...]], processors: Sequence[Callable[[Any], Any] | None], fetched: Sequence[Any]
) -> list[Any]:
    make = tuple.__new__
    return [
        make(row, [v if p is None else p(v) for v, p in zip(raw, processors, strict=True)]) for raw in fetched
    ]
