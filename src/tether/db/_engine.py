from __future__ import annotations

import datetime as _dt
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    NoSuchModuleError,
    OperationalError,
)

from tether.db._sqlite import sqlite_url
from tether.errors import ConfigurationError
from tether.private import private_dir, touch_private

DEFAULT_DATABASE_URL = "sqlite:///.tether/tether.db"
_MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(ConfigurationError):
    """The database URL is wrong, the server is unreachable, or the schema cannot be set up."""


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else ``TETHER_DATABASE_URL``, else the embedded default."""
    return url or os.environ.get("TETHER_DATABASE_URL") or DEFAULT_DATABASE_URL


def as_utc(value: _dt.datetime) -> _dt.datetime:
    """A time read back from the database, as UTC: SQLite returns naive datetimes,
    and everything tether stores is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def connect(url: str | None = None, *, migrate: bool = True) -> Engine:
    """Open tether's database and bring its schema up to date.

    SQLite transactions start with ``BEGIN IMMEDIATE``, so a transaction that reads
    then writes (a limit check, an audit append) holds the write lock from its
    first statement, across processes.
    """
    resolved = database_url(url)
    try:
        engine = _create_engine(resolved, create=migrate)
        if migrate:
            _upgrade(engine)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseError(
            f"cannot use database URL {_safe(resolved)!r}: {exc}. "
            "Use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB "
            "(PostgreSQL needs `pip install tether[postgres]`)."
        ) from exc
    except OperationalError as exc:
        raise DatabaseError(f"cannot open database {_safe(resolved)!r}: {exc.orig}") from exc
    return engine


_READS_ONLY = "tether_reads_only"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection that only reads: on SQLite its transaction takes no write lock, so
    it neither waits for writers nor holds them up (WAL: it reads a snapshot)."""
    with engine.connect() as conn:
        conn.execution_options(**{_READS_ONLY: True})
        yield conn


@contextmanager
def write_transaction(engine: Engine, lock_key: str) -> Iterator[Connection]:
    """A transaction that holds an exclusive lock named ``lock_key`` until it ends.

    On PostgreSQL this is a transaction-scoped advisory lock, so writers on other
    hosts serialise too; on SQLite the ``BEGIN IMMEDIATE`` write lock does it.
    """
    with engine.begin() as conn:
        hold_lock(conn, lock_key)
        yield conn


def sync_to_disk(engine: Engine) -> None:
    """Make what was committed so far survive a power loss before going on.

    PostgreSQL's commits are synchronous already. tether's SQLite commits are not
    (``synchronous=NORMAL``, see ``_sqlite_on_connect``): the write-ahead log reaches
    the disk at the next commit that syncs it. This syncs it now, for a write that an
    action outside the database is about to depend on.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(f"{database}-wal", os.O_RDONLY)
    except FileNotFoundError:  # no log: every commit is in the database file, synced
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hold_lock(conn: Connection, lock_key: str) -> None:
    """Take the lock :func:`write_transaction` takes, in a transaction already open
    (on SQLite, its ``BEGIN IMMEDIATE`` already holds the write lock)."""
    if is_postgres(conn):
        key = zlib.crc32(lock_key.encode()) - 2**31
        conn.execute(_ADVISORY_LOCK, {"key": key})


_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")


def _create_engine(url: str, *, create: bool) -> Engine:
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        engine = sa.create_engine(url)
        event.listen(engine, "checkout", _ping_if_idle(engine.dialect))
        event.listen(engine, "checkin", _note_checkin)
        return engine
    database = sa_url.database
    if create and database and database != ":memory:" and not database.startswith("file:"):
        # tether's state is its owner's only; SQLite gives its journals the file's mode.
        # (Only where tether makes the database: a reader must not create one.)
        private_dir(Path(database).parent)
        touch_private(Path(database))
    engine = sa.create_engine(sqlite_url(url), connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection idle longer than this is tested before it is handed out."""
_CHECKED_IN = "tether_checked_in"


def _ping_if_idle(dialect: sa.Dialect) -> Callable[[Any, Any, Any], None]:
    """pool_pre_ping, but only for a connection that sat in the pool a while (one the
    server may have dropped meanwhile): under load a connection goes straight back
    out, and a ping on every checkout would cost a round trip per transaction."""

    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle = time.monotonic() - record.info.get(_CHECKED_IN, 0.0)
        if idle < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and connects afresh
            raise DisconnectionError(f"a pooled connection was dropped: {exc}") from exc

    return ping


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN] = time.monotonic()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Commits are not fsynced one by one: the write-ahead log is, by the next commit
    # that syncs it (DBOS's, which keeps SQLite's default, or a checkpoint). A process
    # that dies (kill -9) loses nothing either way; a power loss can lose the last
    # commits, so a run syncs the log (sync_to_disk) before an action outside the
    # database depends on them: before executing a call that is not a read (its row
    # in the ledger, and the model's response that proposed it, must survive).
    # (PostgreSQL: commits are synchronous.)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    reads_only = conn.get_execution_options().get(_READS_ONLY, False)
    # On the driver's connection: every transaction begins here, and a statement
    # through SQLAlchemy costs several times SQLite's own work (see _prepared).
    driver = conn.connection.driver_connection
    assert driver is not None  # the event fires on a checked-out connection
    driver.execute("BEGIN" if reads_only else "BEGIN IMMEDIATE")


_REVISION = re.compile(r"^revision(?::[^=]*)?=\s*[\"']([^\"']+)[\"']\s*$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?::[^=]*)?=\s*(?:[\"']([^\"']+)[\"']|None)\s*$", re.M)


def schema_head() -> str | None:
    """The newest migration's revision, read from the migration files themselves; None
    when they do not form one plain chain (then only Alembic can tell)."""
    revisions: dict[str, str | None] = {}
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision is None or down is None:
            return None
        revisions[revision.group(1)] = down.group(1)
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database's schema is at the newest migration already: one read,
    instead of Alembic loading every migration to find nothing to do."""
    head = schema_head()
    if head is None:
        return False
    try:
        with reading(engine) as conn:
            found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    except sa.exc.DBAPIError:  # a fresh database: no version table yet
        return False
    return [row[0] for row in found] == [head]


def _upgrade(engine: Engine) -> None:
    if _at_head(engine):
        return
    from alembic import command  # only when the schema is brought up to date
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        if is_postgres(conn):
            # Two processes migrating the same fresh database must not race.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7453001)"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _safe(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)
