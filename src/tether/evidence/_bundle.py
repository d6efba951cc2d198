"""Writing an evidence bundle: the selected events and everything that proves them.

A bundle is one JSON file:

- ``manifest``: the log, the scope (run, agent, time range), the selected events'
  sequence numbers, the chain segments, the policy versions; signed with the log's
  active key (``signature``), so nothing can be added or left out afterwards;
- ``segments``: for each run of selected events, every stored record from the first
  of them to the first checkpoint at or after the last (records of other runs in
  between are included: the chain cannot be checked without them);
- ``checkpoints``: the log's chained checkpoints up to the last segment's, and
  ``witnesses``: each witness's copies of them with its cosignature and key;
- ``public_keys``: the log's public keys (PEM) by id;
- ``policies``: the text of each policy version that decided a selected call;
- ``approvals``: per approved call, the sequence numbers of its approval events;
- ``outcomes``: per executed call, the outcome record the connector read back, if any.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from tether.audit import AuditError, AuditLog, Checkpoint, canonical_json
from tether.db import policy_snapshot

BUNDLE_FORMAT = "tether-evidence"
BUNDLE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Scope:
    """Which events a bundle is about; unset fields match everything."""

    run: str | None = None
    agent: str | None = None
    since: str | None = None
    """ISO 8601 UTC (``2026-11-25T00:00:00.000000Z``), inclusive."""
    until: str | None = None
    """ISO 8601 UTC, exclusive."""

    def to_dict(self) -> dict[str, str | None]:
        return {"run": self.run, "agent": self.agent, "since": self.since, "until": self.until}

    def matches(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        at = body.get("at")
        return (
            (self.run is None or body.get("run") == self.run)
            and (self.agent is None or body.get("agent") == self.agent)
            and (self.since is None or (isinstance(at, str) and at >= self.since))
            and (self.until is None or (isinstance(at, str) and at < self.until))
        )


def export_bundle(
    audit: AuditLog,
    out: str | Path,
    *,
    run: str | None = None,
    agent: str | None = None,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
) -> dict[str, Any]:
    """Write the bundle for the events in scope to ``out``; its manifest.

    Signs a checkpoint first if the last selected event has none yet, and hands the
    checkpoints to the witnesses, so the bundle proves every event it holds.
    """
    scope = Scope(
        run=run,
        agent=agent,
        since=_time(since),
        until=_time(until),
    )
    selected = [
        stored.seq for stored in audit.events(run=run, agent=agent, since=since, until=until)
    ]
    if not selected:
        raise AuditError(f"no audit events in scope {_describe(scope)}: nothing to export")
    checkpoints = _chained(audit)
    if not checkpoints or checkpoints[-1].seq < selected[-1]:
        audit.checkpoint()
        checkpoints = _chained(audit)
    if audit.witnesses:
        audit.send_to_witnesses()
    ranges = _segments(selected, [cp.seq for cp in checkpoints])
    segments, bodies = _read_segments(audit, ranges)
    chosen = set(selected)
    policies = _policies(audit, (bodies[seq] for seq in selected))
    last = ranges[-1][1]
    used = [cp for cp in checkpoints if (cp.number or 0) <= _number_at(checkpoints, last)]
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "v": BUNDLE_VERSION,
        "log_id": audit.log_id(),
        "created_at": _time(_dt.datetime.now(_dt.UTC)),
        "scope": scope.to_dict(),
        "selected": selected,
        "segments": [
            {"first": seg["first"], "last": seg["last"], "last_hash": seg["hashes"][-1]}
            for seg in segments
        ],
        "checkpoints": [cp.digest() for cp in used],
        "policies": {version: _sha(text) for version, text in policies.items()},
    }
    key_id, signature = audit.sign(canonical_json(manifest).encode())
    bundle = {
        "manifest": manifest,
        "signature": {"key_id": key_id, "value": base64.b64encode(signature).decode()},
        "segments": [
            {"first": seg["first"], "records": seg["records"], "hashes": seg["hashes"]}
            for seg in segments
        ],
        "checkpoints": [cp.to_dict() for cp in used],
        "witnesses": _witnesses(audit, used),
        "public_keys": _public_keys(audit, {key_id, *(cp.key_id for cp in used)}),
        "policies": policies,
        "approvals": _approvals(bodies, chosen),
        "outcomes": _outcomes(bodies, chosen),
    }
    Path(out).write_text(json.dumps(bundle, separators=(",", ":")))
    return manifest


def _time(at: _dt.datetime | None) -> str | None:
    if at is None:
        return None
    at = at if at.tzinfo else at.replace(tzinfo=_dt.UTC)
    return at.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _describe(scope: Scope) -> str:
    given = {k: v for k, v in scope.to_dict().items() if v is not None}
    return ", ".join(f"{k}={v}" for k, v in given.items()) or "(everything)"


def _chained(audit: AuditLog) -> list[Checkpoint]:
    return sorted(
        (cp for cp in audit.checkpoints() if cp.number is not None), key=lambda c: c.number or 0
    )


def _number_at(checkpoints: list[Checkpoint], seq: int) -> int:
    """The number of the first checkpoint at or after event ``seq``."""
    return next((cp.number or 0) for cp in checkpoints if cp.seq >= seq)


def _segments(selected: list[int], checkpoint_seqs: list[int]) -> list[tuple[int, int]]:
    """Ranges of events, each from a selected event to the first checkpoint at or after it."""
    ends = sorted(set(checkpoint_seqs))
    ranges: list[tuple[int, int]] = []
    index = 0
    for seq in selected:
        if ranges and seq <= ranges[-1][1]:
            continue
        while ends[index] < seq:
            index += 1
        ranges.append((seq, ends[index]))
    return ranges


def _read_segments(
    audit: AuditLog, ranges: list[tuple[int, int]]
) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    segments: list[dict[str, Any]] = []
    bodies: dict[int, Any] = {}
    for first, last in ranges:
        records: list[str] = []
        hashes: list[str] = []
        for seq, record, digest in audit.records(first, last):
            records.append(record)
            hashes.append(digest)
            bodies[seq] = json.loads(record)["body"]
        if len(records) != last - first + 1:
            raise AuditError(
                f"events {first} to {last} are not all in the log: verify it "
                "(`tether audit verify`) before exporting evidence"
            )
        segments.append({"first": first, "last": last, "records": records, "hashes": hashes})
    return segments, bodies


def _policies(audit: AuditLog, bodies: Iterable[Any]) -> dict[str, str]:
    versions = {
        str(body["decision"]["policy_version"])
        for body in bodies
        if isinstance(body.get("decision"), dict) and body["decision"].get("policy_version")
    } | {
        str(body["details"]["policy_version"])
        for body in bodies
        if isinstance(body.get("details"), dict) and body["details"].get("policy_version")
    }
    if not versions:
        return {}
    table = policy_snapshot
    with audit.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.version, table.c.text).where(table.c.version.in_(sorted(versions)))
        )
        return {version: text for version, text in rows}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _witnesses(audit: AuditLog, used: list[Checkpoint]) -> list[dict[str, Any]]:
    """Each witness's cosigned copies of the bundle's checkpoints, and its key."""
    digests = {cp.digest() for cp in used}
    found: list[dict[str, Any]] = []
    for witness in audit.witnesses:
        try:
            held = [h for h in witness.held(audit.log_id()) if h.checkpoint.digest() in digests]
            key = witness.public_key()
        except AuditError:
            continue
        if not held:
            continue
        pem = None
        if key is not None:
            pem = key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
        found.append(
            {
                "name": witness.name,
                "kind": witness.kind,
                "public_key": pem,
                "held": [
                    {
                        "checkpoint": h.checkpoint.digest(),
                        **({"cosignature": h.cosignature.to_dict()} if h.cosignature else {}),
                    }
                    for h in held
                ],
            }
        )
    return found


def _public_keys(audit: AuditLog, ids: set[str]) -> dict[str, str]:
    return {key_id: audit.keys.public_pem(key_id) for key_id in sorted(ids)}


def _approvals(bodies: dict[int, Any], chosen: set[int]) -> list[dict[str, Any]]:
    """Per call with approval events among the selected: the events, in order."""
    chains: dict[tuple[str, str], list[int]] = {}
    for seq in sorted(chosen):
        body = bodies[seq]
        if str(body.get("type", "")).startswith("approval.") and body.get("call"):
            chains.setdefault((body["run"], body["call"]), []).append(seq)
    return [
        {"run": run, "call": call, "events": seqs} for (run, call), seqs in sorted(chains.items())
    ]


def _outcomes(bodies: dict[int, Any], chosen: set[int]) -> list[dict[str, Any]]:
    """The outcome records executed calls carry (read back from the system), if any."""
    found: list[dict[str, Any]] = []
    for seq in sorted(chosen):
        body = bodies[seq]
        if body.get("type") != "call.executed":
            continue
        for holder in (body, body.get("effect"), body.get("details")):
            if isinstance(holder, dict) and holder.get("outcome") is not None:
                found.append({"seq": seq, "outcome": holder["outcome"]})
                break
    return found
