"""The PostgreSQL engine's pool: a connection the server dropped is replaced, not used."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tether.db import _engine, connect


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = connect(postgres_url)
    try:
        first = _backend_pid(engine)
        _terminate(postgres_url, first)
        # The pooled connection is dead; the checkout's ping finds out and reconnects.
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = connect(postgres_url)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        _backend_pid(engine)
        before = len(statements)
        pings: list[object] = []
        monkeypatch.setattr(engine.dialect, "do_ping", pings.append)
        _backend_pid(engine)
        assert pings == []
        assert len(statements) == before + 1
        # Without the idle rule every checkout would be pinged.
        monkeypatch.setattr(_engine, "PING_AFTER_IDLE_SECONDS", 0.0)
        _backend_pid(engine)
        assert len(pings) == 1
    finally:
        engine.dispose()
