"""Read events back: by run, agent, principal, tool, type and time."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from tether.audit._canonical import format_time
from tether.audit._event import AuditEvent, StoredEvent
from tether.audit._reader import read_snapshot


@dataclass(frozen=True, kw_only=True)
class EventFilter:
    """Which events to read; unset fields match everything."""

    run: str | None = None
    agent: str | None = None
    principal: str | None = None
    tool: str | None = None
    type: str | None = None
    since: _dt.datetime | None = None
    """Events at or after this time."""
    until: _dt.datetime | None = None
    """Events before this time."""

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("run_id", self.run),
            ("agent", self.agent),
            ("principal", self.principal),
            ("tool", self.tool),
            ("type", self.type),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("at >= ?")
            params.append(format_time(self.since))
        if self.until is not None:
            clauses.append("at < ?")
            params.append(format_time(self.until))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def read_events(
    engine: Engine, where: EventFilter, *, limit: int | None = None, newest: bool = False
) -> Iterator[StoredEvent]:
    """The matching events in order; ``limit`` keeps the first (or, if ``newest``, last) N."""
    condition, params = where.sql()
    sql = f"SELECT seq, record, hash FROM tether_audit_event{condition}"
    if limit is not None:
        sql += f" ORDER BY seq {'DESC' if newest else 'ASC'} LIMIT {int(limit)}"
        if newest:
            sql = f"SELECT seq, record, hash FROM ({sql}) last_events ORDER BY seq"
    else:
        sql += " ORDER BY seq"
    with read_snapshot(engine) as reader, reader.rows(sql, params) as rows:
        for seq, record, digest in rows:
            yield stored_event(seq, record, digest)


def stored_event(seq: int, record: str, digest: str) -> StoredEvent:
    data = json.loads(record)
    return StoredEvent(
        seq=int(seq),
        hash=digest,
        prev=data["prev"],
        event=AuditEvent.from_body(data["body"]),
        record=record,
    )
