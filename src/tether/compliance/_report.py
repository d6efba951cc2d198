"""``tether report``: the obligations a deployment meets over a time range, with the
evidence for each from its configuration, its policy and its audit trail."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from tether.audit import AuditError, AuditLog, verify
from tether.compliance._deployment import read_deployment
from tether.compliance._model import ComplianceReport
from tether.compliance._obligations import OBLIGATIONS, Inputs
from tether.compliance._trail import read_trail
from tether.config import Config


def build_report(
    config: Config,
    *,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    checkpoint: str | Path | None = None,
    now: _dt.datetime | None = None,
) -> ComplianceReport:
    """The compliance report of ``config``'s deployment over ``[since, until]``.

    ``checkpoint`` is a checkpoint file an operator exported, for verification to
    reach the ``exported`` assurance (and detect a cut tail)."""
    if since is not None and until is not None and since > until:
        raise ValueError(f"the range is empty: since {since} is after until {until}")
    deployment = read_deployment(config)
    with AuditLog(config.database, keys=config.keys) as log:
        trail = read_trail(
            log.events(since=since, until=until),
            since=since,
            until=until,
            limit_rules=deployment.limit_rules,
        )
        verification = _verification(log, checkpoint)
    assurance = _assurance(verification, exported=checkpoint is not None)
    inputs = Inputs(
        deployment=deployment, trail=trail, verification=verification, assurance=assurance
    )
    findings = []
    if not trail.events:
        where = (
            "in the trail"
            if since is None and until is None
            else f"between {_when(since, 'the beginning')} and {_when(until, 'now')}"
        )
        findings.append(
            f"no events {where}: the trail evidences nothing in this range; "
            "every figure from it is zero"
        )
    if not verification.get("intact"):
        findings.append("the audit log does not verify: the figures from it cannot be relied on")
    return ComplianceReport(
        generated_at=now or _dt.datetime.now(_dt.UTC),
        since=since,
        until=until,
        config=str(config.path),
        policy_version=deployment.policy_version,
        verification=verification,
        assurance=assurance,
        events_in_range=trail.events,
        findings=tuple(findings),
        obligations=tuple(build(inputs) for build in OBLIGATIONS),
    )


def _verification(log: AuditLog, checkpoint: str | Path | None) -> dict[str, Any]:
    try:
        return verify(log.engine, keys=log.keys, checkpoint=checkpoint).to_dict()
    except (AuditError, OSError, ValueError) as exc:
        return {"intact": False, "error": str(exc)}


def _assurance(verification: dict[str, Any], *, exported: bool) -> str:
    """The assurance verification reached: none for a log that does not verify or
    holds no signed checkpoint, else the audit package's own word when it gives one,
    else what its figures show."""
    if not verification.get("intact") or not verification.get("checkpoints"):
        return "none"
    stated = verification.get("assurance")
    if isinstance(stated, str) and stated:
        return stated
    return "exported" if exported else "local"


def _when(value: _dt.datetime | None, open_end: str) -> str:
    return value.isoformat() if value is not None else open_end
