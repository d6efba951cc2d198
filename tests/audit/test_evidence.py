"""Evidence bundles (issue 17, item 4) and policy snapshots (item 3): exported, checked
offline, and refused when tampered with in any way."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.audit.conftest import event
from tests.audit.test_witness import Server, free_port
from tether.audit import AuditError, AuditEvent, AuditLog, KeyStore, ServerWitness, canonical_json
from tether.audit._policies import policy_version
from tether.evidence import export_bundle, verify_bundle

POLICY = "version: 1\nmode: enforce\nagents: {desk: {tools: []}}\n"
SHADOW = "version: 1\nmode: shadow\nagents: {desk: {tools: []}}\n"


def fill_runs(log: AuditLog, version: str) -> None:
    """Two interleaved runs; run-a has a held call, approved, executed with an outcome."""
    for n in range(12):
        log.append(event(n, run="run-b" if n % 2 else "run-a"))
    common = {
        "run_id": "run-a",
        "call_id": "refund-1",
        "agent": "support-desk",
        "tool": "erp.refund",
    }
    log.append(
        AuditEvent(
            type="call.decided",
            decision={"kind": "needs_approval", "rules": ["refund"], "policy_version": version},
            **common,
        )
    )
    log.append(AuditEvent(type="approval.requested", approval={"request_id": "apr-1"}, **common))
    log.append(
        AuditEvent(
            type="approval.decided",
            approval={"request_id": "apr-1", "verdict": "approved", "by": "fiona"},
            **common,
        )
    )
    log.append(
        AuditEvent(
            type="call.executed",
            result={"id": 7},
            effect={"class": "write", "outcome": {"read_back": {"id": 7, "amount": 40.0}}},
            **common,
        )
    )
    for n in range(12, 20):
        log.append(event(n, run="run-b"))


@pytest.fixture
def log(sqlite_db: str, open_log: Callable[..., AuditLog]) -> AuditLog:
    log = open_log(sqlite_db, checkpoint_every=5)
    version = log.record_policy(POLICY, actor={"account": "ops"}, source="policy.yaml")
    assert version is not None
    fill_runs(log, version)
    return log


@pytest.fixture
def bundle(log: AuditLog, tmp_path: Path) -> Path:
    path = tmp_path / "run-a.evidence.json"
    export_bundle(log, path, run="run-a")
    return path


def test_exported_bundle_verifies_offline(bundle: Path, keys: KeyStore) -> None:
    report = verify_bundle(bundle, keys=keys.path)
    assert report.ok, report.problems
    assert report.selected == 10 and report.keys_trusted
    data = json.loads(bundle.read_text())
    assert list(data["policies"].values()) == [POLICY]
    (chain,) = data["approvals"]
    assert chain["call"] == "refund-1" and len(chain["events"]) == 2
    assert data["outcomes"][0]["outcome"]["read_back"]["amount"] == 40.0
    untrusted = verify_bundle(bundle)
    assert untrusted.ok and not untrusted.keys_trusted


def tamper(bundle: Path, change: Callable[[dict[str, Any]], None], into: Path) -> Path:
    data = json.loads(bundle.read_text())
    change(data)
    into.write_text(json.dumps(data))
    return into


def _edit_record(data: dict[str, Any]) -> None:
    records = data["segments"][0]["records"]
    records[1] = records[1].replace("alice", "mallory")


def _drop_record(data: dict[str, Any]) -> None:
    del data["segments"][0]["records"][2]


def _swap_records(data: dict[str, Any]) -> None:
    records = data["segments"][0]["records"]
    records[1], records[2] = records[2], records[1]


def _unselect(data: dict[str, Any]) -> None:
    data["manifest"]["selected"].pop()


def _drop_segment(data: dict[str, Any]) -> None:
    data["segments"].pop()
    data["manifest"]["segments"].pop()


def _bad_manifest_signature(data: dict[str, Any]) -> None:
    signature = base64.b64decode(data["signature"]["value"])
    data["signature"]["value"] = base64.b64encode(
        bytes([signature[0] ^ 1]) + signature[1:]
    ).decode()


def _bad_checkpoint_signature(data: dict[str, Any]) -> None:
    data["checkpoints"][-1]["seq"] += 1


def _drop_checkpoint(data: dict[str, Any]) -> None:
    data["checkpoints"].pop(0)


def _edit_policy(data: dict[str, Any]) -> None:
    version = next(iter(data["policies"]))
    data["policies"][version] = SHADOW


def _edit_outcome(data: dict[str, Any]) -> None:
    data["outcomes"][0]["outcome"]["read_back"]["amount"] = 4000.0


def _edit_approval_chain(data: dict[str, Any]) -> None:
    data["approvals"][0]["events"][0] = data["manifest"]["selected"][0]


def _replace_key(data: dict[str, Any]) -> None:
    """Re-sign everything with a key of the tamperer's own."""
    private = Ed25519PrivateKey.generate()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key_id = hashlib.sha256(raw).hexdigest()[:16]
    data["public_keys"] = {key_id: pem}
    signature = private.sign(canonical_json(data["manifest"]).encode())
    data["signature"] = {"key_id": key_id, "value": base64.b64encode(signature).decode()}


TAMPERING: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("edit-record", _edit_record, "chain"),
    ("drop-record", _drop_record, "chain"),
    ("swap-records", _swap_records, "chain"),
    ("unselect-event", _unselect, "signature"),
    ("drop-segment", _drop_segment, "signature"),
    ("manifest-signature", _bad_manifest_signature, "signature"),
    ("checkpoint-signature", _bad_checkpoint_signature, "checkpoint"),
    ("drop-checkpoint", _drop_checkpoint, "checkpoint"),
    ("edit-policy", _edit_policy, "policy"),
    ("edit-outcome", _edit_outcome, "outcome"),
    ("edit-approval-chain", _edit_approval_chain, "approval"),
    ("unknown-key", _replace_key, "key"),
]


@pytest.mark.parametrize(
    ("change", "kind"), [(c, k) for _, c, k in TAMPERING], ids=[i for i, _, _ in TAMPERING]
)
def test_tampered_bundle_is_refused(
    bundle: Path,
    keys: KeyStore,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    kind: str,
) -> None:
    report = verify_bundle(tamper(bundle, change, tmp_path / "tampered.json"), keys=keys.path)
    assert not report.ok
    assert report.problems[0].kind == kind, report.problems[0]


@pytest.mark.parametrize("cut", [0, 10, 1000, -1])
def test_truncated_or_corrupt_bundle(bundle: Path, tmp_path: Path, cut: int) -> None:
    text = bundle.read_bytes()
    broken = tmp_path / "broken.json"
    broken.write_bytes(text[:cut] if cut >= 0 else b"\x00garbage" + text)
    report = verify_bundle(broken)
    assert not report.ok and report.problems[0].kind == "unreadable"


def test_bundle_of_another_scope_is_exact(log: AuditLog, tmp_path: Path, keys: KeyStore) -> None:
    path = tmp_path / "desk.json"
    export_bundle(log, path, agent="support-desk")
    report = verify_bundle(path, keys=keys.path)
    assert report.ok and report.selected == 24


def test_nothing_in_scope(log: AuditLog, tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no audit events"):
        export_bundle(log, tmp_path / "none.json", run="no-such-run")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    witness = Server(tmp_path / "witness", free_port())
    witness.start()
    yield witness
    witness.stop()


def test_witnessed_bundle(
    sqlite_db: str,
    open_log: Callable[..., AuditLog],
    server: Server,
    tmp_path: Path,
    keys: KeyStore,
) -> None:
    log = open_log(sqlite_db, checkpoint_every=5, witnesses=[ServerWitness(server.url)])
    fill_runs(log, "sha256:0000000000000000")
    log.send_to_witnesses()
    path = tmp_path / "w.json"
    export_bundle(log, path, run="run-a")
    report = verify_bundle(path, keys=keys.path)
    assert report.ok and report.assurance == "witnessed" and report.witnessed_by == 1

    def forge(data: dict[str, Any]) -> None:
        held = data["witnesses"][0]["held"][0]["cosignature"]
        held["at"] = "2020-01-01T00:00:00.000000Z"

    refused = verify_bundle(tamper(path, forge, tmp_path / "forged.json"), keys=keys.path)
    assert refused.problems[0].kind == "witness"


def test_policy_changes_are_recorded(log: AuditLog) -> None:
    assert log.record_policy(POLICY, actor={"account": "ops"}) is None  # in use already
    assert log.record_policy(SHADOW, actor={"account": "mia"}) is not None
    changed = [s.event for s in log.events(type="policy.changed")]
    assert [(e.details or {}).get("what") for e in changed] == ["shadow"]
    assert changed[0].actor == {"account": "mia"}
    assert (changed[0].details or {})["after"] == "shadow"
    assert log.record_policy(POLICY, actor={"account": "ops"}) is not None  # back again
    loaded = [s.event for s in log.events(type="policy.loaded")]
    assert len(loaded) == 3
    assert log.policy_text(str((loaded[0].details or {})["policy_version"])) == POLICY


def test_the_deciding_policy_is_kept_before_its_first_decision(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    """A process that decides without being launched as a worker (the console deciding
    an approval, an embedded runtime) keeps the text of the version that decided too."""
    log = open_log(sqlite_db)
    version = policy_version(SHADOW)
    log.deciding_with(SHADOW, actor={"account": "console"}, source="policy.yaml")
    log.append(AuditEvent(type="run.started", run_id="r"))
    assert log.policy_text(version) is None  # nothing decided by it yet: nothing kept
    log.append(
        AuditEvent(
            type="call.decided",
            run_id="r",
            call_id="c",
            decision={"kind": "allow", "policy_version": version},
        )
    )
    assert log.policy_text(version) == SHADOW
    types = [s.event.type for s in log.events()]
    assert types.index("policy.loaded") < types.index("call.decided")
    (loaded,) = [s.event for s in log.events(type="policy.loaded")]
    assert loaded.actor == {"account": "console"}
    log.append(
        AuditEvent(
            type="call.decided",
            run_id="r",
            call_id="d",
            decision={"kind": "allow", "policy_version": version},
        )
    )
    assert len(list(log.events(type="policy.loaded"))) == 1  # once per version
