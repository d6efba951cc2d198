"""Statements every tool call runs, compiled once and executed on the driver's cursor.

SQLAlchemy builds, compiles and types each statement, and a statement's execution
through it (its cache key, execution context and result) costs several times the
database's own work: about 0.15 ms against 0.03 ms for a one-row read here. That is
nothing for most of tether, and most of a call's cost for the few statements each
call of a run makes (the run's state, the ledger's row, the audit chain's tail and
its events). :class:`Prepared` keeps SQLAlchemy for what it is good at (the SQL of
each database kind, its types' conversions) and runs the result on the cursor of
the connection SQLAlchemy holds, in that connection's transaction.

Only plain statements: no expanding ``IN``, no statement that SQLAlchemy would
rewrite per execution.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    compiled: Any
    """The statement compiled for one dialect (for its parameters' defaults)."""
    order: tuple[str, ...] | None
    """For a positional paramstyle (SQLite's ``?``): the parameters' names in the order
    the SQL takes their values."""
    binds: tuple[tuple[str, Processor], ...]
    """Each parameter and the conversion of its type for the driver."""
    columns: tuple[Processor, ...]
    """The conversion of each result column's value from the driver."""

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values = self.compiled.construct_params(given)
        for name, processor in self.binds:
            if processor is not None and name in values:
                values[name] = processor(values[name])
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self.columns, raw, strict=True)
        )


class Prepared:
    """A statement run on the driver's cursor of a SQLAlchemy connection.

    ``statement``: the statement, or a function of the dialect's name that builds it
    (an upsert differs by database kind). ``keys``: for an ``INSERT`` with no values
    of its own, the columns its parameters give.
    """

    def __init__(
        self,
        statement: sa.Executable | Callable[[str], sa.Executable],
        *,
        keys: Sequence[str] | None = None,
    ) -> None:
        self._statement = statement
        self._keys = list(keys) if keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._by_dialect.get(dialect.name) or self._compile(dialect)
                self._by_dialect[dialect.name] = found
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement = self._statement
        if not isinstance(statement, sa.Executable):
            statement = statement(dialect.name)
        compiled: Any = statement.compile(dialect=dialect, column_keys=self._keys)  # type: ignore[attr-defined]
        binds = tuple(
            {
                name: _processor(dialect, bind.type, "bind")
                for bind, name in compiled.bind_names.items()
            }.items()
        )
        selected = getattr(statement, "selected_columns", ())
        columns = tuple(_processor(dialect, column.type, "result") for column in selected)
        if "__[POSTCOMPILE" in compiled.string:
            raise ValueError(
                "a prepared statement cannot hold parameters SQLAlchemy renders per "
                f"execution (an expanding IN): {compiled.string}"
            )
        order = tuple(compiled.positiontup) if compiled.positional else None
        return _Compiled(
            sql=compiled.string, compiled=compiled, order=order, binds=binds, columns=columns
        )

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run it once in ``conn``'s transaction; the driver's cursor."""
        return self._run(conn, params)[1]

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per row of parameters, in ``conn``'s transaction."""
        compiled = self._for(conn.dialect)
        _cursor(conn).executemany(compiled.sql, [compiled.parameters(row) for row in rows])

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a query, its values converted as SQLAlchemy would."""
        compiled, cursor = self._run(conn, params)
        raw = cursor.fetchone()
        cursor.close()
        return None if raw is None else compiled.row(raw)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of a query, converted."""
        compiled, cursor = self._run(conn, params)
        rows = [compiled.row(raw) for raw in cursor.fetchall()]
        cursor.close()
        return rows

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        compiled = self._for(conn.dialect)
        cursor = _cursor(conn)
        cursor.execute(compiled.sql, compiled.parameters(params))
        return compiled, cursor


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read statement run by :class:`Prepared`: no transaction is
    begun for it (a single statement reads a consistent snapshot by itself), and what
    the driver began is rolled back when the connection is returned."""
    with engine.connect() as conn:
        yield conn


def _cursor(conn: Connection) -> Any:
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a connection is checked out
        raise RuntimeError("the connection has no driver connection")
    return driver.cursor()


def _processor(dialect: Dialect, type_: Any, kind: str) -> Processor:
    implementation = dialect.type_descriptor(type_)
    if kind == "bind":
        return implementation.bind_processor(dialect)
    return implementation.result_processor(dialect, None)
