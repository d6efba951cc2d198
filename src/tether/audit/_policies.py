"""Policy snapshots: the text of every policy version in use, stored once, and its changes.

Decision events name the policy version that decided them (``sha256:`` and 16 hex
digits of the text); ``tether_policy_snapshot`` keeps that text, so an auditor can
read the exact rules behind any decision (and an evidence bundle carries them). A
version coming into use (new, or back after another) is recorded as a
``policy.loaded`` event, with who loaded it; what changed in it that matters to
oversight (shadow mode on or off, approvers and quorums) is recorded as one
``policy.changed`` event per change.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection

from tether.audit._canonical import format_time
from tether.audit._event import AuditEvent
from tether.db import audit_event, policy_snapshot

_WATCHED = ("shadow", "mode", "approvers", "quorum")
"""Keys whose values, anywhere in a policy, change oversight."""


def policy_version(text: str) -> str:
    """The version a policy's text has (as ``tether.policy`` computes it)."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot_writer(text: str, version: str) -> tuple[Any, list[str]]:
    """An ``alongside`` write for a policy coming into use: False (record nothing) when
    it is the version in use already; else it stores the text if new, and fills the
    holder with the version that was in use before and its text."""
    previous: list[str] = []

    def write(conn: Connection) -> bool:
        table = policy_snapshot
        last = conn.execute(_LAST_LOADED).scalar()
        in_use = _version_of(last)
        if in_use == version:
            return False
        if in_use is not None:
            before = conn.execute(sa.select(table.c.text).where(table.c.version == in_use)).scalar()
            if before is not None:
                previous.extend([in_use, str(before)])
        found = conn.execute(sa.select(table.c.version).where(table.c.version == version)).first()
        if found is None:
            conn.execute(
                table.insert(),
                {
                    "version": version,
                    "text": text,
                    "first_seen_at": format_time(_dt.datetime.now(_dt.UTC)),
                },
            )
        return True

    return write, previous


_LAST_LOADED = (
    sa.select(audit_event.c.record)
    .where(audit_event.c.run_id == "-", audit_event.c.type == "policy.loaded")
    .order_by(audit_event.c.seq.desc())
    .limit(1)
)


def _version_of(record: Any) -> str | None:
    try:
        version = json.loads(record)["body"]["details"]["policy_version"]
    except (TypeError, ValueError, KeyError):
        return None
    return version if isinstance(version, str) else None


def policy_events(
    text: str, version: str, *, actor: Mapping[str, Any] | None, source: str | None
) -> list[AuditEvent]:
    """The events recording a new version (the previous one is looked up when written)."""
    return [
        AuditEvent(
            type="policy.loaded",
            run_id="-",
            details={"policy_version": version, "source": source},
            actor=actor,
        )
    ]


def changes(before: str, after: str) -> list[dict[str, Any]]:
    """What changed between two policy texts in shadow mode, approvers and quorums."""
    old = dict(_watched(_load(before)))
    new = dict(_watched(_load(after)))
    found = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) != new.get(path):
            kind = "shadow" if path.endswith(("shadow", "mode")) else "approvers"
            found.append(
                {"what": kind, "path": path, "before": old.get(path), "after": new.get(path)}
            )
    return found


def _load(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _watched(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in _WATCHED and (key != "mode" or not path):
                yield here, value
            else:
                yield from _watched(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _watched(item, f"{path}[{index}]")
