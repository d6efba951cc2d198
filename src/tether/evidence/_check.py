"""Checking an evidence bundle offline: no database, only the file (and trusted keys).

Checks, in order, and names the first problem: the file is a bundle; the public keys
are what their ids say (and, given ``keys``, trusted ones); the manifest's signature;
every checkpoint's signature and their chain; every record's hash, position and link,
and each segment's end against a checkpoint; that the selected events are exactly
those in scope; the policy texts against their versions; the witnesses'
cosignatures; the approval chains and outcome records against the events.
"""

from __future__ import annotations

import base64
import binascii
import gc
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tether.audit import (
    GENESIS,
    AuditError,
    Checkpoint,
    Cosignature,
    KeyStore,
    canonical_json,
)
from tether.evidence._bundle import BUNDLE_FORMAT, BUNDLE_VERSION, Scope

try:  # orjson parses a large bundle several times faster; json is the fallback
    import orjson

    _loads: Any = orjson.loads
    _JSON_ERRORS: tuple[type[Exception], ...] = (ValueError, orjson.JSONDecodeError)
except ImportError:  # pragma: no cover
    _loads = json.loads
    _JSON_ERRORS = (ValueError,)

Assurance = Literal["local", "witnessed"]


@dataclass(frozen=True, kw_only=True)
class BundleProblem:
    """One thing wrong with a bundle."""

    kind: str
    """``unreadable``, ``key``, ``signature``, ``checkpoint``, ``chain``, ``selection``,
    ``policy``, ``witness``, ``approval``, ``outcome``."""
    message: str
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class BundleReport:
    """What :func:`verify_bundle` found; ``ok`` only if nothing was wrong."""

    log_id: str | None = None
    events: int = 0
    """Records checked (selected ones and those between them and their checkpoints)."""
    selected: int = 0
    checkpoints: int = 0
    key_ids: tuple[str, ...] = ()
    """The log keys the bundle is signed with."""
    keys_trusted: bool = False
    """The keys were checked against a trusted key folder (else: the bundle's own)."""
    witnessed_by: int = 0
    problems: tuple[BundleProblem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> BundleProblem | None:
        return self.problems[0] if self.problems else None

    @property
    def assurance(self) -> Assurance:
        return "witnessed" if self.witnessed_by else "local"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "log_id": self.log_id,
            "events": self.events,
            "selected": self.selected,
            "checkpoints": self.checkpoints,
            "key_ids": list(self.key_ids),
            "keys_trusted": self.keys_trusted,
            "assurance": self.assurance,
            "witnessed_by": self.witnessed_by,
            "problems": [p.to_dict() for p in self.problems],
        }


class _Stop(Exception):
    def __init__(self, problem: BundleProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def verify_bundle(path: str | Path, *, keys: KeyStore | str | Path | None = None) -> BundleReport:
    """Check the bundle at ``path`` offline; ``keys`` is a folder of trusted public keys
    (the log's ``.pub`` files): without it the bundle's own keys are used, and the
    report says so."""
    trusted = None if keys is None else (keys if isinstance(keys, KeyStore) else KeyStore(keys))
    checker = _Checker(trusted)
    collecting = gc.isenabled()
    gc.disable()  # a bundle is a few hundred thousand objects that all live to the end
    try:
        checker.run(path)
    except _Stop as stop:
        checker.problems.insert(0, stop.problem)
    finally:
        if collecting:
            gc.enable()
    return checker.report()


def _stop(kind: str, message: str, seq: int | None = None) -> _Stop:
    return _Stop(BundleProblem(kind=kind, message=message, seq=seq))


class _Checker:
    def __init__(self, trusted: KeyStore | None) -> None:
        self.trusted = trusted
        self.problems: list[BundleProblem] = []
        self.log_id: str | None = None
        self.events = 0
        self.selected = 0
        self.checkpoints = 0
        self.key_ids: tuple[str, ...] = ()
        self.witnessed_by = 0

    def report(self) -> BundleReport:
        return BundleReport(
            log_id=self.log_id,
            events=self.events,
            selected=self.selected,
            checkpoints=self.checkpoints,
            key_ids=self.key_ids,
            keys_trusted=self.trusted is not None,
            witnessed_by=self.witnessed_by,
            problems=tuple(self.problems),
        )

    def run(self, path: str | Path) -> None:
        bundle = _read(path)
        manifest = _object(bundle, "manifest")
        if manifest.get("format") != BUNDLE_FORMAT or manifest.get("v") != BUNDLE_VERSION:
            raise _stop("unreadable", f"{path} is not a tether evidence bundle of version 1")
        self.log_id = str(manifest.get("log_id"))
        keys = self._keys(_object(bundle, "public_keys"))
        self._manifest_signature(manifest, _object(bundle, "signature"), keys)
        checkpoints = self._checkpoints(bundle.get("checkpoints"), manifest, keys)
        bodies = self._segments(bundle.get("segments"), manifest, checkpoints)
        self._selection(manifest, bodies)
        self._policies(bundle.get("policies"), manifest)
        self._witnesses(bundle.get("witnesses"), checkpoints)
        self._approvals(bundle.get("approvals"), manifest, bodies)
        self._outcomes(bundle.get("outcomes"), manifest, bodies)

    # --- keys and signatures ------------------------------------------------------

    def _keys(self, given: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
        keys: dict[str, Ed25519PublicKey] = {}
        for key_id, pem in given.items():
            key = _public_key(pem, f"public key {key_id}")
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            if hashlib.sha256(raw).hexdigest()[:16] != key_id:
                raise _stop("key", f"the bundle's public key {key_id} is another key")
            keys[key_id] = key
        if self.trusted is not None:
            trusted = self.trusted.public_keys()
            for key_id in keys:
                if key_id not in trusted:
                    raise _stop(
                        "key",
                        f"the bundle is signed with key {key_id}, which is not among the "
                        f"trusted keys in {self.trusted.path}",
                    )
        self.key_ids = tuple(sorted(keys))
        return keys

    def _manifest_signature(
        self, manifest: dict[str, Any], signature: dict[str, Any], keys: dict[str, Any]
    ) -> None:
        key = keys.get(str(signature.get("key_id")))
        if key is None:
            raise _stop(
                "key",
                f"the manifest is signed by key {signature.get('key_id')!r}, which the "
                "bundle does not hold",
            )
        if not _valid(key, str(signature.get("value")), canonical_json(manifest).encode()):
            raise _stop("signature", "the manifest's signature does not verify: it was changed")

    def _checkpoints(
        self, data: Any, manifest: dict[str, Any], keys: dict[str, Ed25519PublicKey]
    ) -> dict[int, Checkpoint]:
        if not isinstance(data, list):
            raise _stop("unreadable", "the bundle has no checkpoints list")
        try:
            checkpoints = [Checkpoint.from_dict(item) for item in data]
        except AuditError as exc:
            raise _stop("checkpoint", str(exc)) from None
        if [cp.digest() for cp in checkpoints] != manifest.get("checkpoints"):
            raise _stop("checkpoint", "the checkpoints are not the ones the manifest lists")
        for cp in checkpoints:
            key = keys.get(cp.key_id)
            if cp.log_id != self.log_id:
                raise _stop("checkpoint", f"checkpoint {cp.number} belongs to another log", cp.seq)
            if key is None or not cp.signature_valid(key):
                raise _stop(
                    "checkpoint",
                    f"checkpoint {cp.number} (event {cp.seq}) does not verify with key {cp.key_id}",
                    cp.seq,
                )
        for previous, cp in itertools.pairwise(checkpoints):
            if cp.number != (previous.number or 0) + 1 or cp.prev != previous.digest():
                raise _stop(
                    "checkpoint",
                    f"checkpoint {cp.number} does not follow checkpoint {previous.number}",
                    cp.seq,
                )
        self.checkpoints = len(checkpoints)
        return {cp.seq: cp for cp in checkpoints}

    # --- the chain -----------------------------------------------------------------

    def _segments(
        self, data: Any, manifest: dict[str, Any], checkpoints: dict[int, Checkpoint]
    ) -> dict[int, Any]:
        if not isinstance(data, list) or not isinstance(manifest.get("segments"), list):
            raise _stop("unreadable", "the bundle has no segments")
        if len(data) != len(manifest["segments"]):
            raise _stop("chain", "the bundle does not hold the segments its manifest lists")
        bodies: dict[int, Any] = {}
        for segment, listed in zip(data, manifest["segments"], strict=True):
            self.events += _segment(segment, listed, checkpoints, bodies)
        return bodies

    def _selection(self, manifest: dict[str, Any], bodies: dict[int, Any]) -> None:
        scope_data = manifest.get("scope") or {}
        scope = Scope(**{k: scope_data.get(k) for k in ("run", "agent", "since", "until")})
        listed = manifest.get("selected")
        if not isinstance(listed, list):
            raise _stop("selection", "the manifest lists no selected events")
        matches = scope.matches
        in_scope = [seq for seq, body in bodies.items() if matches(body)]
        if in_scope != listed:
            chosen = set(listed)
            extra = [seq for seq in in_scope if seq not in chosen]
            if extra:
                raise _stop("selection", f"event {extra[0]} is in scope but not selected", extra[0])
            found = set(in_scope)
            missing = [seq for seq in listed if seq not in found]
            first = missing[0] if missing else None
            raise _stop("selection", f"selected event {first} is not in the bundle", first)
        self.selected = len(listed)

    # --- what else the bundle holds ----------------------------------------------------

    def _policies(self, data: Any, manifest: dict[str, Any]) -> None:
        listed = manifest.get("policies") or {}
        texts = data if isinstance(data, dict) else {}
        if set(texts) != set(listed):
            raise _stop("policy", "the policy texts are not the ones the manifest lists")
        for version, text in texts.items():
            digest = hashlib.sha256(str(text).encode()).hexdigest()
            if digest != listed[version] or version != f"sha256:{digest[:16]}":
                raise _stop("policy", f"the text of policy {version} was changed")

    def _witnesses(self, data: Any, checkpoints: dict[int, Checkpoint]) -> None:
        by_digest = {cp.digest(): cp for cp in checkpoints.values()}
        for witness in data if isinstance(data, list) else []:
            name = witness.get("name")
            if witness.get("kind") != "server":
                continue
            key = _public_key(witness.get("public_key"), f"the key of witness {name}")
            cosigned = 0
            for item in witness.get("held") or []:
                cp = by_digest.get(item.get("checkpoint"))
                if cp is None:
                    raise _stop("witness", f"witness {name} vouches for a checkpoint not here")
                try:
                    cosignature = Cosignature.from_dict(item.get("cosignature"))
                except AuditError as exc:
                    raise _stop("witness", f"witness {name}: {exc}") from None
                if not cosignature.valid(cp, key):
                    raise _stop(
                        "witness",
                        f"witness {name}'s cosignature of checkpoint {cp.number} does not verify",
                        cp.seq,
                    )
                cosigned += 1
            if cosigned:
                self.witnessed_by += 1

    def _approvals(self, data: Any, manifest: dict[str, Any], bodies: dict[int, Any]) -> None:
        chosen = set(manifest.get("selected") or [])
        for chain in data if isinstance(data, list) else []:
            for seq in chain.get("events") or []:
                body = bodies.get(seq)
                if (
                    seq not in chosen
                    or not isinstance(body, dict)
                    or not str(body.get("type", "")).startswith("approval.")
                    or (body.get("run"), body.get("call")) != (chain.get("run"), chain.get("call"))
                ):
                    raise _stop(
                        "approval",
                        f"the approval chain of {chain.get('call')} names event {seq}, which "
                        "is not one of its approval events",
                        seq,
                    )

    def _outcomes(self, data: Any, manifest: dict[str, Any], bodies: dict[int, Any]) -> None:
        for item in data if isinstance(data, list) else []:
            seq = item.get("seq")
            body = bodies.get(seq) if isinstance(seq, int) else None
            holders = [body, *(body.get(k) for k in ("effect", "details"))] if body else []
            if not any(
                isinstance(h, dict) and h.get("outcome") == item.get("outcome") for h in holders
            ):
                raise _stop("outcome", f"the outcome record of event {seq} is not the event's", seq)


def _segment(
    segment: Any, listed: Any, checkpoints: dict[int, Checkpoint], bodies: dict[int, Any]
) -> int:
    """Check one segment's records (hash, position, link) and its checkpoint; their count."""
    first = segment.get("first") if isinstance(segment, dict) else None
    records = segment.get("records") if isinstance(segment, dict) else None
    if not isinstance(first, int) or not isinstance(records, list) or not records:
        raise _stop("unreadable", "a segment is incomplete")
    if not isinstance(listed, dict) or (first, first + len(records) - 1) != (
        listed.get("first"),
        listed.get("last"),
    ):
        raise _stop("chain", f"the segment from event {first} was cut or extended", first)
    sha256 = hashlib.sha256
    loads = _loads
    prev: str | None = None
    digest = GENESIS
    for offset, record in enumerate(records):
        seq = first + offset
        try:
            digest = sha256(record.encode()).hexdigest()
            parsed = loads(record)
            claimed, linked = parsed["seq"], parsed["prev"]
        except (AttributeError, TypeError, ValueError, KeyError):
            raise _stop("chain", f"event {seq} is not a chain record", seq) from None
        if claimed != seq:
            raise _stop("chain", f"event {seq} is out of place (it says {claimed})", seq)
        if prev is not None and linked != prev:
            raise _stop("chain", f"event {seq} does not link to event {seq - 1}", seq)
        bodies[seq] = parsed.get("body")
        prev = digest
    last = first + len(records) - 1
    checkpoint = checkpoints.get(last)
    if checkpoint is None or checkpoint.hash != digest or digest != listed.get("last_hash"):
        raise _stop(
            "chain",
            f"the segment ending at event {last} is not vouched for by a checkpoint: "
            "an event in it was changed",
            last,
        )
    return len(records)


def _read(path: str | Path) -> dict[str, Any]:
    try:
        data = _loads(Path(path).read_bytes())
    except OSError as exc:
        raise _stop("unreadable", f"cannot read {path}: {exc}") from None
    except _JSON_ERRORS as exc:
        raise _stop(
            "unreadable", f"{path} is not a readable bundle (corrupt or cut): {exc}"
        ) from None
    if not isinstance(data, dict):
        raise _stop("unreadable", f"{path} is not a tether evidence bundle")
    return data


def _object(bundle: dict[str, Any], key: str) -> dict[str, Any]:
    value = bundle.get(key)
    if not isinstance(value, dict):
        raise _stop("unreadable", f"the bundle has no {key}")
    return value


def _public_key(pem: Any, what: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(str(pem).encode())
    except (ValueError, UnsupportedAlgorithm):
        raise _stop("key", f"{what} is not a readable public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise _stop("key", f"{what} is not an Ed25519 key")
    return key


def _valid(key: Ed25519PublicKey, signature: str, payload: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
