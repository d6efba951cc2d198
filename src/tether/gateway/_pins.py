"""Pinned tool definitions: an upstream MCP tool is offered only as an operator accepted it.

Each upstream tool's definition (name, title, description, input and output schema,
annotations) is hashed. A definition nobody accepted, or one that differs from the
accepted hash (a "rug pull": the server changed what the tool says or takes), puts
the tool in quarantine: it is not listed and its calls are refused, until an
operator accepts the definition now seen (``tether gateway accept``). Quarantines
and acceptances are audit events.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tether.audit import AuditEvent
from tether.db import metadata, reading, write_transaction
from tether.identity import Actor

gateway_tool = sa.Table(
    "tether_gateway_tool",
    metadata,
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("accepted_hash", sa.String(64), nullable=True),
    sa.Column("accepted_definition", sa.JSON, nullable=True),
    sa.Column("accepted_by", sa.String(200), nullable=True),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("seen_hash", sa.String(64), nullable=False),
    sa.Column("seen_definition", sa.JSON, nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

PinStatus = Literal["accepted", "quarantined"]


def definition_hash(definition: Mapping[str, Any]) -> str:
    """SHA-256 of the definition's canonical JSON."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Pin:
    """One upstream tool: the definition accepted, and the one last seen."""

    name: str
    accepted_hash: str | None
    accepted_by: str | None
    accepted_at: _dt.datetime | None
    seen_hash: str
    seen_definition: dict[str, Any]
    accepted_definition: dict[str, Any] | None

    @property
    def status(self) -> PinStatus:
        return "accepted" if self.accepted_hash == self.seen_hash else "quarantined"


class Pins:
    """The pinned definitions, in tether's database."""

    def __init__(self, engine: Engine, record: Any) -> None:
        self.engine = engine
        self._record = record
        """Appends an :class:`AuditEvent` (the service's ``record``)."""
        self._accepted: dict[str, str] = {}
        """name -> a hash known to be accepted (a quarantine is read again each time: an
        operator may accept from another process)."""

    def observe(self, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, PinStatus]:
        """Note the definitions seen now; each tool's status. A new or changed definition
        that is not the accepted one is quarantined, and recorded once."""
        statuses: dict[str, PinStatus] = {}
        for name, definition in definitions.items():
            digest = definition_hash(definition)
            if self._accepted.get(name) == digest:
                statuses[name] = "accepted"
                continue
            statuses[name] = self._observe_one(name, dict(definition), digest)
            if statuses[name] == "accepted":
                self._accepted[name] = digest
            else:
                self._accepted.pop(name, None)
        return statuses

    def _observe_one(self, name: str, definition: dict[str, Any], digest: str) -> PinStatus:
        now = _dt.datetime.now(_dt.UTC)
        changed: Pin | None = None
        with write_transaction(self.engine, f"gateway-pin:{name}") as conn:
            row = (
                conn.execute(sa.select(gateway_tool).where(gateway_tool.c.name == name))
                .mappings()
                .first()
            )
            if row is None:
                conn.execute(
                    gateway_tool.insert().values(
                        name=name, seen_hash=digest, seen_definition=definition, seen_at=now
                    )
                )
                pin = _pin({"name": name, "seen_hash": digest, "seen_definition": definition})
                changed = pin
            else:
                if row["seen_hash"] != digest:
                    conn.execute(
                        gateway_tool.update()
                        .where(gateway_tool.c.name == name)
                        .values(seen_hash=digest, seen_definition=definition, seen_at=now)
                    )
                    changed = _pin({**row, "seen_hash": digest, "seen_definition": definition})
                pin = changed or _pin(row)
        if changed is not None and changed.status == "quarantined":
            self._record(
                AuditEvent(
                    type="tool.quarantined",
                    run_id="-",
                    tool=name,
                    details={
                        "seen_hash": digest,
                        "accepted_hash": changed.accepted_hash,
                        "reason": "never accepted"
                        if changed.accepted_hash is None
                        else "its definition changed since it was accepted",
                        "definition": definition,
                    },
                )
            )
        return pin.status

    def accept(self, name: str, *, by: Actor, expected_hash: str | None = None) -> Pin:
        """Accept the definition last seen for ``name`` (only if its hash is
        ``expected_hash``, when given: the operator accepts what they reviewed)."""
        now = _dt.datetime.now(_dt.UTC)
        with write_transaction(self.engine, f"gateway-pin:{name}") as conn:
            row = (
                conn.execute(sa.select(gateway_tool).where(gateway_tool.c.name == name))
                .mappings()
                .first()
            )
            if row is None:
                raise KeyError(name)
            if expected_hash is not None and not row["seen_hash"].startswith(expected_hash):
                raise ValueError(
                    f"the definition now seen for {name} has hash {row['seen_hash'][:12]}, "
                    f"not {expected_hash}: review it again"
                )
            conn.execute(
                gateway_tool.update()
                .where(gateway_tool.c.name == name)
                .values(
                    accepted_hash=row["seen_hash"],
                    accepted_definition=row["seen_definition"],
                    accepted_by=by.account,
                    accepted_at=now,
                )
            )
            previous = row["accepted_hash"]
            pin = _pin(
                {
                    **row,
                    "accepted_hash": row["seen_hash"],
                    "accepted_definition": row["seen_definition"],
                    "accepted_by": by.account,
                    "accepted_at": now,
                }
            )
        self._record(
            AuditEvent(
                type="tool.accepted",
                run_id="-",
                tool=name,
                actor=by.record(),
                details={"hash": pin.accepted_hash, "replaces": previous},
            )
        )
        return pin

    def all(self) -> list[Pin]:
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(gateway_tool).order_by(gateway_tool.c.name)).mappings()
            return [_pin(row) for row in rows]

    def get(self, name: str) -> Pin | None:
        with reading(self.engine) as conn:
            row = (
                conn.execute(sa.select(gateway_tool).where(gateway_tool.c.name == name))
                .mappings()
                .first()
            )
        return None if row is None else _pin(row)


def _pin(row: Mapping[str, Any] | sa.RowMapping) -> Pin:
    return Pin(
        name=row["name"],
        accepted_hash=row.get("accepted_hash"),
        accepted_by=row.get("accepted_by"),
        accepted_at=row.get("accepted_at"),
        seen_hash=row["seen_hash"],
        seen_definition=row["seen_definition"],
        accepted_definition=row.get("accepted_definition"),
    )
