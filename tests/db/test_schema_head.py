"""A database already at the newest migration is opened without Alembic; any other is
migrated by it as before."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from tether.db import connect
from tether.db._engine import schema_head

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "tether" / "db" / "migrations"


def _alembic() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _version(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert schema_head() == ScriptDirectory.from_config(_alembic()).get_current_head()


def test_a_database_behind_the_head_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    config = _alembic()
    with old.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0050")  # the revision before the head
    old.dispose()

    engine = connect(url)
    try:
        assert _version(engine) == [schema_head()]
        assert "tether_audit_witness" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_database_at_the_head_is_opened_as_it_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    connect(url).dispose()
    engine = connect(url)
    try:
        assert _version(engine) == [schema_head()]
    finally:
        engine.dispose()
