"""Fixtures for the audit trail's tests: databases, keys, a filled log, an attacker."""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.audit import AuditEvent, AuditLog, KeyStore

POSTGRES_ENV = "TETHER_TEST_DATABASE_URL"
T0 = _dt.datetime(2026, 5, 1, 9, 0, tzinfo=_dt.UTC)


def postgres_base() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tether.db'}"


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A PostgreSQL schema of its own for one test (search_path in the URL), dropped after."""
    base = postgres_base()
    if base is None:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    schema = f"audit_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> str:
    """Tests that take this run on SQLite and on PostgreSQL."""
    url: str = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")
    return url


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys")
    store.signing_key()
    return store


@pytest.fixture
def open_log(keys: KeyStore) -> Iterator[Callable[..., AuditLog]]:
    logs: list[AuditLog] = []

    def make(url: str, **options: Any) -> AuditLog:
        log = AuditLog(url, keys=keys, **options)
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close()


def event(
    n: int, *, run: str = "run-1", at: _dt.datetime | None = None, **fields: Any
) -> AuditEvent:
    """A plausible call event, the n-th of its run."""
    kinds = ("call.proposed", "call.decided", "call.executed")
    values: dict[str, Any] = {
        "type": kinds[n % 3],
        "run_id": run,
        "call_id": f"call-{n // 3}",
        "agent": "support-desk",
        "principal": "alice",
        "tool": "crm.read_party",
        "args": {"party_id": n},
        "why": "the customer asked for their record",
        "at": at or T0 + _dt.timedelta(seconds=n),
    }
    values.update(fields)
    return AuditEvent(**values)


def fill(log: AuditLog, count: int, *, start: int = 0, run: str = "run-1") -> None:
    log.append_many([event(n, run=run) for n in range(start, start + count)])


@contextmanager
def attacker(url: str) -> Iterator[Connection]:
    """A connection that can change the audit tables behind tether's back.

    On PostgreSQL the append-only triggers are switched off for the session (as a
    superuser can); on SQLite the triggers are dropped (as anyone with the file can).
    """
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            else:
                names = conn.execute(
                    sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
                for name in list(names):
                    conn.execute(sa.text(f"DROP TRIGGER {name}"))
            yield conn
    finally:
        engine.dispose()
