"""What every obligation's evidence is built from: the facts the report read, and small
helpers that name where each figure comes from (a query of the trail, a read of the
configuration)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.compliance._deployment import DeploymentFacts
from tether.compliance._model import Evidence
from tether.compliance._trail import TrailFacts

AI_ACT = "EU AI Act"
OWASP = "OWASP Top 10 for Agentic Applications"


@dataclass(frozen=True, kw_only=True)
class Inputs:
    deployment: DeploymentFacts
    trail: TrailFacts
    verification: dict[str, Any]
    assurance: str


def trail_evidence(name: str, value: Any, counted: str) -> Evidence:
    return Evidence(name=name, value=value, source=f"trail: {counted}")


def config_evidence(name: str, value: Any, read: str) -> Evidence:
    return Evidence(name=name, value=value, source=f"configuration: {read}")


def no_events(trail: TrailFacts, what: str) -> list[str]:
    if trail.events:
        return []
    return [f"no events in the range: the trail holds no evidence that {what} in it"]


def listed(items: list[str] | tuple[str, ...]) -> str:
    return ", ".join(items) if items else "none"


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
