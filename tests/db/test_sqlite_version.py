"""tether and DBOS on a SQLite new enough for DBOS's schema, whatever the interpreter's
(issue 15, item 1: Python 3.12 and 3.13 crashed at launch on Debian 12's SQLite 3.40)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tether.db import MINIMUM_SQLITE, SQLiteTooOld, connect, sqlite_url
from tether.policy import load_policy_text
from tether.runtime import Runtime
from tether.tools import Toolset

POLICY = "version: 1\nagents: {}\n"

# What DBOS's SQLite schema gives its timestamps as default on Python 3.12 and newer:
# NULL on SQLite older than 3.42, so every insert relying on it fails.
DBOS_TIMESTAMP_DEFAULT = "SELECT unixepoch('subsec') * 1000"


def test_tethers_connections_evaluate_what_dbos_schema_uses(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT sqlite_version()").scalar_one()
        stamp = conn.exec_driver_sql(DBOS_TIMESTAMP_DEFAULT).scalar_one()
    engine.dispose()
    assert tuple(int(part) for part in version.split(".")) >= MINIMUM_SQLITE
    assert stamp is not None


def test_dbos_gets_the_same_sqlite_library(tmp_path: Path) -> None:
    policy = load_policy_text(POLICY, tools=Toolset([]))
    database = f"sqlite:///{tmp_path / 'tether.db'}"
    with Runtime(policy=policy, agents=[], database=database, keys=str(tmp_path)) as runtime:
        engine = sa.create_engine(runtime.durability.url)  # the URL DBOS is given
        with engine.connect() as conn:
            assert conn.exec_driver_sql(DBOS_TIMESTAMP_DEFAULT).scalar_one() is not None
        engine.dispose()


def test_an_old_sqlite_without_the_bundled_one_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 40, 1))
    monkeypatch.setitem(sys.modules, "sqlean", None)  # as if sqlean-py were not installed
    with pytest.raises(SQLiteTooOld) as refused:
        sqlite_url("sqlite:///tether.db")
    message = str(refused.value)
    assert "3.42" in message
    assert "pip install 'sqlean-py" in message
    assert "PostgreSQL" in message


def test_urls_that_name_their_driver_or_another_database_are_kept() -> None:
    assert sqlite_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlite_url("sqlite+sqlean:///x.db") == "sqlite+sqlean:///x.db"
