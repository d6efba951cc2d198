"""What a trial and a scenario produced: the actions, the checks that failed, the measures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Decision = Literal["allow", "deny", "needs_approval"]
Status = Literal["passed", "failed", "errored"]


@dataclass(frozen=True, kw_only=True)
class Action:
    """One tool call the model proposed, and what became of it."""

    tool: str
    args: dict[str, Any]
    decision: str | None
    """The gate's decision: allow, deny, needs_approval (None: it never reached the gate)."""
    executed: bool
    """Whether the tool ran (after an approval, when one was needed)."""
    call_id: str = ""
    approval: str | None = None
    """How the person decided, for a call that waited: approved, rejected, expired…"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Measures:
    """The counts a trial contributes to the suite's metrics."""

    true_positives: int = 0
    """Expected calls the model made."""
    false_positives: int = 0
    """Calls the model made that nothing expected."""
    false_negatives: int = 0
    """Expected calls the model did not make."""
    exact_sequence: bool = False
    forbidden_attempted: int = 0
    forbidden_executed: int = 0
    approvals_correct: int = 0
    approvals_total: int = 0
    denials: int = 0
    """Calls the policy refused."""
    end_state_passed: int = 0
    end_state_total: int = 0
    attacker_unapproved: int = 0
    """Attacker actions (an attack scenario's forbidden calls) that ran with no person."""
    attacker_approved: int = 0
    """Attacker actions that ran because a person approved them."""
    approvals_requested: int = 0
    """Calls that waited for a person."""
    unwarranted_approvals: int = 0
    """Of those, the ones the scenario does not list as required."""


@dataclass(frozen=True, kw_only=True)
class TrialResult:
    trial: int
    passed: bool
    error: str | None = None
    """Why the trial crashed (it is counted as errored, not failed)."""
    actions: list[Action] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    tokens: int | None = None
    cost: float | None = None
    run_id: str | None = None
    status: str | None = None
    """How the run ended."""
    output: str | None = None
    measures: Measures = field(default_factory=Measures)
    timed_out: bool = False
    """The run did not finish in time; the runner cancelled it (its actions still count)."""
    run_error: str | None = None
    """Why the run itself failed or was stopped, as the runtime recorded it."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "error": self.error,
            "actions": [action.to_dict() for action in self.actions],
            "failures": list(self.failures),
            "latency_ms": round(self.latency_ms, 3),
            "tokens": self.tokens,
            "cost": self.cost,
            "run_id": self.run_id,
            "run_status": self.status,
            "run_error": self.run_error,
            "timed_out": self.timed_out,
            "output": self.output,
            "measures": asdict(self.measures),
        }


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    id: str
    file: str
    line: int
    description: str
    tags: list[str]
    trials: list[TrialResult]
    injection: dict[str, Any] | None = None
    """For the injection suite: ``kind``, ``threat``, ``twin``, ``suite``."""

    @property
    def status(self) -> Status:
        if any(trial.error is not None for trial in self.trials):
            return "errored"
        return "passed" if all(trial.passed for trial in self.trials) else "failed"

    @property
    def successes(self) -> int:
        return sum(1 for trial in self.trials if trial.passed)

    @property
    def pass_rate(self) -> float:
        return self.successes / len(self.trials) if self.trials else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file,
            "line": self.line,
            "description": self.description,
            "tags": list(self.tags),
            "injection": self.injection,
            "status": self.status,
            "trials": [trial.to_dict() for trial in self.trials],
            "pass_rate": self.pass_rate,
        }
