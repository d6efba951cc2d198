"""The compliance report's values: obligations, their controls, evidence and gaps."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["met", "partial", "gap"]

SIX_MONTHS = _dt.timedelta(days=184)
"""The longest six calendar months (31+31+30+31+30+31 days): a retention this long
keeps six months of records whatever the start."""


@dataclass(frozen=True, kw_only=True)
class Control:
    """A control tether has for an obligation, and whether this deployment sets it up."""

    name: str
    configured: bool
    detail: str
    required: bool = True
    """False for a control that strengthens the evidence but that the obligation does
    not need (live telemetry): its absence is no gap."""


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """One figure, and the query it comes from."""

    name: str
    value: Any
    source: str
    """What was counted, where: ``trail: call.decided events with decision deny``."""


@dataclass(frozen=True, kw_only=True)
class Obligation:
    """One obligation: what it asks, the controls, the evidence, what is missing."""

    id: str
    """``AI-Act-Art-12``, ``ASI01``…"""
    framework: str
    """``EU AI Act`` or ``OWASP Top 10 for Agentic Applications``."""
    title: str
    asks: str
    """What the obligation asks, in one sentence."""
    controls: tuple[Control, ...]
    evidence: tuple[Evidence, ...]
    gaps: tuple[str, ...]
    """What the deployment lacks, stated plainly."""

    @property
    def status(self) -> Status:
        if not self.gaps:
            return "met"
        missing = any(c.required and not c.configured for c in self.controls)
        return "gap" if missing else "partial"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "framework": self.framework,
            "title": self.title,
            "asks": self.asks,
            "status": self.status,
            "controls": [vars(control) for control in self.controls],
            "evidence": [vars(item) for item in self.evidence],
            "gaps": list(self.gaps),
        }


@dataclass(frozen=True, kw_only=True)
class ComplianceReport:
    """``tether report``: every obligation covered, with its evidence, over a range."""

    generated_at: _dt.datetime
    since: _dt.datetime | None
    until: _dt.datetime | None
    config: str
    policy_version: str
    verification: dict[str, Any]
    """The audit package's verification of the whole log (``VerifyReport.to_dict``),
    or ``{"intact": False, "error": ...}`` when it could not be checked."""
    assurance: str
    """``none``, ``local`` (signatures only), ``exported`` (an operator's checkpoint
    file), ``witnessed`` (independent cosignatures), as verification reached it."""
    events_in_range: int
    findings: tuple[str, ...]
    """What holds for the whole report (a range with no events…)."""
    obligations: tuple[Obligation, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "range": {
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
            },
            "config": self.config,
            "policy_version": self.policy_version,
            "verification": self.verification,
            "assurance": self.assurance,
            "events_in_range": self.events_in_range,
            "findings": list(self.findings),
            "summary": {
                status: sum(1 for o in self.obligations if o.status == status)
                for status in ("met", "partial", "gap")
            },
            "obligations": [obligation.to_dict() for obligation in self.obligations],
        }
