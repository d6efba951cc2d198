"""Read the audit tables fast and without taking the write lock.

Verification and queries read through the driver's own cursor, in one read-only
snapshot: a deferred transaction on SQLite (WAL lets writers go on meanwhile) and a
``REPEATABLE READ READ ONLY`` transaction with a server-side cursor on PostgreSQL.
SQL here is written with ``?`` placeholders; PostgreSQL gets ``%s``.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from tether.audit._errors import AuditLogUnreadable
from tether.db import is_postgres, shown_url, sqlite_errors

_TABLES = ("tether_audit_event", "tether_audit_checkpoint", "tether_audit_meta")
_cursor_names = itertools.count()


def driver_errors() -> tuple[type[Exception], ...]:
    """The errors the database drivers raise: SQLite's, and psycopg's once it is loaded
    (a PostgreSQL engine loads it; reading SQLite never does, nor needs to)."""
    psycopg = sys.modules.get("psycopg")
    return (*sqlite_errors(), psycopg.Error) if psycopg is not None else sqlite_errors()


def _open_errors() -> tuple[type[Exception], ...]:
    return (SQLAlchemyError, *driver_errors())


class Reader:
    """One read-only snapshot of the audit tables."""

    def __init__(self, raw: Any, postgres: bool, where: str) -> None:
        self._raw = raw
        self.postgres = postgres
        self.where = where

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cursor = self._raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    @contextmanager
    def rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Iterator[tuple[Any, ...]]]:
        """The driver's cursor over the rows: iterated directly, it is the fastest way.

        On PostgreSQL it is a server-side cursor fetching 20,000 rows at a time.
        """
        if self.postgres:
            cursor = self._raw.cursor(name=f"tether_audit_{next(_cursor_names)}")
            cursor.itersize = 20_000
        else:
            cursor = self._raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            yield iter(cursor)
        finally:
            cursor.close()

    def execute(self, sql: str) -> None:
        cursor = self._raw.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()

    def savepoint_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """Like :meth:`one`, but a failing query leaves the snapshot usable (raises after)."""
        if not self.postgres:
            return self.one(sql, params)
        self.execute("SAVEPOINT tether_audit_check")
        try:
            row = self.one(sql, params)
        except Exception:
            self.execute("ROLLBACK TO SAVEPOINT tether_audit_check")
            raise
        self.execute("RELEASE SAVEPOINT tether_audit_check")
        return row


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Reader]:
    """A :class:`Reader` on ``engine``; a database that holds no audit log is refused."""
    where = shown_url(engine.url)
    _check_file(engine, where)
    with _snapshot(engine, where) as reader:
        try:
            _check_tables(reader)
        except driver_errors() as exc:
            raise AuditLogUnreadable(f"cannot read {where}: {_reason(exc)}") from None
        yield reader


def twin_opener(
    engine: Engine, reader: Reader
) -> Callable[[], AbstractContextManager[Reader]] | None:
    """How to open a second :class:`Reader`, for work in another thread (open it there).

    On PostgreSQL it sees exactly ``reader``'s snapshot (exported now, imported when
    opened); on SQLite it is a snapshot of its own, taken when opened, so its user
    bounds what it reads by what ``reader`` saw (appends are all that WAL lets writers
    do meanwhile). None where there can be no second connection to the same data: an
    in-memory database, a server that cannot export snapshots (a standby).
    """
    if reader.postgres:
        try:
            row = reader.savepoint_one("SELECT pg_export_snapshot()")
        except driver_errors():
            return None
        exported = str(row[0]) if row else ""
        if not _SNAPSHOT_ID.fullmatch(exported):
            return None
        return partial(_snapshot, engine, reader.where, imported=exported)
    database = engine.url.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(engine.url.query):
        return None
    return partial(_snapshot, engine, reader.where)


_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")
"""What PostgreSQL's ``pg_export_snapshot()`` returns (it goes into SQL as a literal)."""


@contextmanager
def _snapshot(engine: Engine, where: str, *, imported: str | None = None) -> Iterator[Reader]:
    """One connection in a read-only transaction; ``imported`` is a PostgreSQL snapshot."""
    try:
        pooled = engine.raw_connection()
    except _open_errors() as exc:
        raise AuditLogUnreadable(f"cannot open {where}: {_reason(exc)}") from None
    postgres = is_postgres(engine)
    raw: Any = pooled.driver_connection
    saved: tuple[Any, Any] = (raw.isolation_level, raw.read_only) if postgres else (None, None)
    try:
        try:
            if postgres:
                import psycopg

                raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                raw.read_only = True
                if imported is not None:
                    raw.execute(f"SET TRANSACTION SNAPSHOT '{imported}'")
            else:
                raw.execute("BEGIN")
                raw.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # the snapshot starts here
        except driver_errors() as exc:
            raise AuditLogUnreadable(f"cannot read {where}: {_reason(exc)}") from None
        try:
            yield Reader(raw, postgres, where)
        except driver_errors() as exc:
            raise AuditLogUnreadable(f"cannot read the audit log in {where}: {exc}") from None
    finally:
        try:
            if postgres:
                raw.rollback()
                raw.isolation_level, raw.read_only = saved
            else:
                raw.execute("ROLLBACK")
        except driver_errors():
            pooled.invalidate()
        pooled.close()


def _check_file(engine: Engine, where: str) -> None:
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return
    database = url.database
    if database and database != ":memory:" and not Path(database).is_file():
        raise AuditLogUnreadable(f"there is no database at {where}")


def _check_tables(reader: Reader) -> None:
    if reader.postgres:
        rows = reader.all(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = ANY (current_schemas(false))"
        )
    else:
        rows = reader.all("SELECT name FROM sqlite_master WHERE type = 'table'")
    present = {row[0] for row in rows}
    missing = [table for table in _TABLES if table not in present]
    if missing:
        raise AuditLogUnreadable(
            f"{reader.where} holds no tether audit log (no table {missing[0]}). "
            "Is it the right database? A tether database gets its tables from "
            "`tether.db.connect(url)`."
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig).strip()
    return str(exc).strip()
