"""The query columns against the hashed records: one scan, in the database.

Each event's query columns (type, run, call, agent, principal, tool, time, schema
version) copy fields of its hashed record so that indexes can use them; someone who
edits a column and not the record would mislead every query while the chain still
verifies. This check finds the first row whose columns differ from its record, or
whose record has a schema version this tether does not know.

It runs as one scan by the database's JSON functions. On SQLite one multi-path
``json_extract`` per row is compared with the columns as a JSON array; only a row
where that differs (a value longer than its column, a non-ASCII value, which the
record keeps as a ``\\u`` escape, or a real difference) is checked field by field.
A row whose record holds an escape that may stand for an unstorable character (NUL,
a lone surrogate) is compared in Python, with the function that made its columns,
and the scan goes on after it; if a record is not JSON at all, every row is compared
in Python.
"""

from __future__ import annotations

import json

from tether.audit._columns import BODY_KEYS, COLUMNS, WIDTHS, columns_of
from tether.audit._event import KNOWN_SCHEMA_VERSIONS
from tether.audit._reader import Reader, driver_errors

_UNSAFE = ("\\u0000", "\\ud")
"""Escapes in a record that may stand for what a column cannot store: NUL, surrogates."""


def first_differing(reader: Reader, *, upto: int | None = None) -> tuple[int, str] | None:
    """The first event (seq, schema version as text) whose columns differ from its record
    or whose version is unknown; None when every row up to ``upto`` agrees."""
    try:
        return _scan(reader, upto)
    except driver_errors():  # a record that is not JSON at all: check row by row instead
        return _check_rows(reader, _bounded("", upto))


def _scan(reader: Reader, upto: int | None) -> tuple[int, str] | None:
    sql = column_check_sql(reader.postgres, bounded=upto is not None)
    after = -(2**62)
    while True:
        params = (after,) if upto is None else (after, upto)
        found = reader.savepoint_one(sql, params)
        if found is None:
            return None
        seq, version, unsafe = found
        if not unsafe:
            return int(seq), version
        checked = _check_rows(reader, " WHERE seq = ?", (seq,))
        if checked is not None:
            return checked
        after = int(seq)


def _bounded(where: str, upto: int | None) -> str:
    if upto is None:
        return where
    return f"{where} AND seq <= {int(upto)}" if where else f" WHERE seq <= {int(upto)}"


def _check_rows(reader: Reader, where: str, params: tuple[int, ...] = ()) -> tuple[int, str] | None:
    sql = f"SELECT seq, record, {', '.join(COLUMNS)} FROM tether_audit_event{where}"
    with reader.rows(sql + " ORDER BY seq", params) as rows:
        for seq, record, *columns in rows:
            try:
                body = json.loads(record)["body"]
                expected = columns_of(body)
            except (TypeError, ValueError, KeyError, AttributeError):
                return seq, "1"
            version = body.get("v")
            if isinstance(version, int) and version not in KNOWN_SCHEMA_VERSIONS:
                return seq, str(version)
            if expected != columns:
                return seq, "1"
    return None


def column_check_sql(postgres: bool, *, bounded: bool = False) -> str:
    """The first row after ``?`` (and, when ``bounded``, up to the second ``?``) as
    (seq, version, unsafe) whose columns differ from its record, whose version is
    unknown, or whose record holds an unsafe escape."""
    known = ",".join(f"'{v}'" for v in KNOWN_SCHEMA_VERSIONS)
    known_numbers = ",".join(str(v) for v in KNOWN_SCHEMA_VERSIONS)
    upto = " AND seq <= ?" if bounded else ""
    if postgres:
        unsafe = " OR ".join(f"strpos(record, '{e}') > 0" for e in _UNSAFE)
        checks = " OR ".join(
            (
                f"b->>'{key}' IS DISTINCT FROM {column}::text"
                if column == "schema_version"
                else f"left(b->>'{key}', {WIDTHS[column]}) IS DISTINCT FROM {column}"
            )
            for key, column in zip(BODY_KEYS, COLUMNS, strict=True)
        )
        # OFFSET 0 keeps the subquery whole, so each record is parsed once, not per check;
        # a record with an unsafe escape is never cast (jsonb refuses NUL).
        return (
            "SELECT seq, b->>'v', unsafe FROM (SELECT *, CASE WHEN unsafe THEN NULL ELSE "
            "(record::jsonb)->'body' END AS b FROM (SELECT *, "
            f"({unsafe}) AS unsafe FROM tether_audit_event WHERE seq > ?{upto} OFFSET 0) u "
            f"OFFSET 0) t WHERE unsafe OR {checks} OR (b->>'v') NOT IN ({known}) "
            "ORDER BY seq LIMIT 1"
        )
    unsafe = " OR ".join(f"instr(record, '{e}') > 0" for e in _UNSAFE)
    version = "CAST(json_extract(record, '$.body.v') AS TEXT)"
    checks = " OR ".join(
        (
            f"json_extract(record, '$.body.{key}') IS NOT {column}"
            if column == "schema_version"
            else f"substr(json_extract(record, '$.body.{key}'), 1, {WIDTHS[column]}) "
            f"IS NOT {column}"
        )
        for key, column in zip(BODY_KEYS, COLUMNS, strict=True)
    )
    paths = ", ".join(f"'$.body.{key}'" for key in BODY_KEYS)
    # The cheap comparison first; the field-by-field one only where it differs.
    alike = f"json_extract(record, {paths}) IS json_array({', '.join(COLUMNS)})"
    return (
        f"SELECT seq, {version}, {unsafe} FROM tether_audit_event WHERE seq > ?{upto} "
        f"AND (({unsafe}) OR schema_version NOT IN ({known_numbers}) "
        f"OR (NOT ({alike}) AND ({checks} OR {version} NOT IN ({known})))) "
        "ORDER BY seq LIMIT 1"
    )
