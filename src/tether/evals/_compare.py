"""Compare two results: which metrics got worse, which scenarios stopped passing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.evals._metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER

TOLERANCE = 1e-9


@dataclass(frozen=True, kw_only=True)
class Change:
    what: str
    """A metric's name, or ``scenario ID``."""
    old: str
    new: str
    regression: bool


@dataclass(frozen=True, kw_only=True)
class Comparison:
    metrics: list[Change] = field(default_factory=list)
    scenarios: list[Change] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [change for change in [*self.metrics, *self.scenarios] if change.regression]


def compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    """The changes from ``old`` to ``new`` (two ``tether-eval/1`` results)."""
    metrics = []
    for name in sorted(set(old["metrics"]) | set(new["metrics"])):
        before, after = old["metrics"].get(name), new["metrics"].get(name)
        if before is None or after is None or abs(after - before) <= TOLERANCE:
            continue
        worse = (name in HIGHER_IS_BETTER and after < before) or (
            name in LOWER_IS_BETTER and after > before
        )
        metrics.append(Change(what=name, old=f"{before:g}", new=f"{after:g}", regression=worse))
    rank = {"passed": 0, "failed": 1, "errored": 2}
    before_status = {s["id"]: s for s in old["scenarios"]}
    scenarios = []
    for scenario in new["scenarios"]:
        previous = before_status.get(scenario["id"])
        if previous is None:
            scenarios.append(
                Change(what=scenario["id"], old="(new)", new=scenario["status"], regression=False)
            )
            continue
        was, now = previous["status"], scenario["status"]
        if was != now or abs(previous["pass_rate"] - scenario["pass_rate"]) > TOLERANCE:
            worse = rank[now] > rank[was] or scenario["pass_rate"] < previous["pass_rate"]
            scenarios.append(
                Change(
                    what=scenario["id"],
                    old=f"{was} ({previous['pass_rate']:.2f})",
                    new=f"{now} ({scenario['pass_rate']:.2f})",
                    regression=worse,
                )
            )
    gone = set(before_status) - {s["id"] for s in new["scenarios"]}
    scenarios.extend(
        Change(what=name, old=before_status[name]["status"], new="(missing)", regression=True)
        for name in sorted(gone)
    )
    return Comparison(metrics=metrics, scenarios=scenarios)
