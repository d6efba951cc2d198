"""Prepared statements give what SQLAlchemy's own execution gives, on both databases."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tether.db import Prepared, as_utc, connect, single_read

metadata = sa.MetaData()
thing = sa.Table(
    "prepared_thing",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("data", sa.JSON, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
KEYS = [column.name for column in thing.c]
AT = _dt.datetime(2026, 12, 2, 18, 30, 15, 123456, tzinfo=_dt.UTC)
ROWS = [
    {"id": "a", "count": 1, "flag": True, "data": {"to": ["x@y.example"], "n": 2}, "at": AT},
    {"id": "b", "count": 2, "flag": False, "data": "a JSON string", "at": AT},
    {"id": "c", "count": 3, "flag": False, "data": None, "at": AT},
]


def _insert(dialect: str) -> sa.Insert:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(thing).on_conflict_do_nothing(index_elements=[thing.c.id])


INSERT = Prepared(_insert, keys=KEYS)
BY_ID = Prepared(sa.select(thing).where(thing.c.id == sa.bindparam("w_id")))
ABOVE = Prepared(
    sa.select(thing.c.id, thing.c.data)
    .where(thing.c.count > sa.bindparam("least"))
    .order_by(thing.c.id.desc())
    .limit(5)
)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = connect(database_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_rows_written_and_read_are_sqlalchemys(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        INSERT.execute_many(conn, ROWS)
    with engine.connect() as conn:
        expected = [tuple(row) for row in conn.execute(sa.select(thing).order_by(thing.c.id))]
    assert [row[3] for row in expected] == [row["data"] for row in ROWS]
    assert as_utc(expected[0][4]) == AT and expected[0][2] is True  # SQLite keeps no zone
    with single_read(engine) as conn:
        found = [BY_ID.first(conn, {"w_id": row["id"]}) for row in ROWS]
        assert BY_ID.first(conn, {"w_id": "none"}) is None
        assert ABOVE.all(conn, {"least": 1}) == [("c", None), ("b", "a JSON string")]
    assert found == expected


def test_an_insert_that_conflicts_changes_nothing_and_says_so(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        assert INSERT.execute(conn, ROWS[0]).rowcount == 1
    with engine.begin() as conn:
        assert INSERT.execute(conn, {**ROWS[0], "count": 99}).rowcount == 0
    with single_read(engine) as conn:
        row = BY_ID.first(conn, {"w_id": "a"})
    assert row is not None and row[1] == 1


def test_it_runs_in_the_connections_transaction(engine: sa.Engine) -> None:
    seen_inside = []

    def insert_then_fail() -> None:
        with engine.begin() as conn:
            INSERT.execute(conn, ROWS[0])
            seen_inside.append(BY_ID.first(conn, {"w_id": "a"}))
            raise RuntimeError("undone")

    with pytest.raises(RuntimeError, match="undone"):
        insert_then_fail()
    assert seen_inside[0] is not None
    with single_read(engine) as conn:
        assert BY_ID.first(conn, {"w_id": "a"}) is None


def test_a_missing_parameter_is_an_error_not_a_null(engine: sa.Engine) -> None:
    with single_read(engine) as conn, pytest.raises(sa.exc.InvalidRequestError, match="w_id"):
        BY_ID.first(conn, {})


def test_a_statement_rendered_per_execution_is_refused(engine: sa.Engine) -> None:
    expanding = Prepared(
        sa.select(thing.c.id).where(thing.c.id.in_(sa.bindparam("ids", expanding=True)))
    )
    with single_read(engine) as conn, pytest.raises(ValueError, match="expanding IN"):
        expanding.all(conn, {"ids": ["a"]})
