"""Stored evaluation results (``tether eval``), read from their JSON files.

The format (``tether-eval/1``): suite, start and end, k, trials, metrics, and per
scenario its status, pass rate and trials (actions, failures, latency, tokens).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.redaction import Redactor

FORMAT = "tether-eval/1"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EvalAction(_Lenient):
    tool: str
    args: dict[str, Any] = {}
    decision: str | None = None
    executed: bool = False
    approval: str | None = None
    """How a person decided, for a call that waited."""


class EvalTrial(_Lenient):
    passed: bool
    error: str | None = None
    actions: list[EvalAction] = []
    failures: list[str] = []
    latency_ms: float | None = None
    tokens: int | None = None
    run_id: str | None = None
    """The run the trial made (its timeline is in the console, if in this database)."""


class EvalScenario(_Lenient):
    id: str
    file: str = ""
    line: int | None = None
    description: str = ""
    status: Literal["passed", "failed", "errored"]
    trials: list[EvalTrial] = []
    pass_rate: float = 0.0


class EvalReport(_Lenient):
    format: Literal["tether-eval/1"]
    suite: str
    started_at: str
    finished_at: str
    k: int = Field(default=1, ge=1)
    trials: int = Field(default=1, ge=0)
    metrics: dict[str, float] = {}
    scenarios: list[EvalScenario] = []

    def count(self, status: str) -> int:
        return sum(1 for scenario in self.scenarios if scenario.status == status)


@dataclass(frozen=True, kw_only=True)
class StoredReport:
    """One results file: its report, or why it could not be read."""

    name: str
    """The file's name without ``.json``: the report's address in the console."""
    report: EvalReport | None
    error: str | None = None


def _read(path: Path, redactor: Redactor) -> StoredReport:
    name = path.stem
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        report = EvalReport.model_validate(data)
    except (OSError, ValueError, ValidationError) as exc:
        return StoredReport(name=name, report=None, error=f"{type(exc).__name__}: {exc}"[:300])
    return StoredReport(name=name, report=_redacted(report, redactor))


def _redacted(report: EvalReport, redactor: Redactor) -> EvalReport:
    """The report with secrets in the recorded arguments and messages hidden."""
    for scenario in report.scenarios:
        for trial in scenario.trials:
            for action in trial.actions:
                action.args = redactor.redact(action.args).value
            trial.failures = [redactor.redact_text(failure) for failure in trial.failures]
            trial.error = redactor.redact_text(trial.error) if trial.error else trial.error
    return report


def list_reports(folder: Path, redactor: Redactor) -> list[StoredReport]:
    """Every results file in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = [
        _read(path, redactor)
        for path in folder.glob("*.json")
        if _NAME.fullmatch(path.stem) and _inside(folder, path)
    ]
    return sorted(
        found,
        key=lambda item: (item.report.finished_at if item.report else "", item.name),
        reverse=True,
    )


def read_report(folder: Path, name: str, redactor: Redactor) -> StoredReport | None:
    """The report named ``name`` (a plain file name: no paths), or None."""
    if not _NAME.fullmatch(name):
        return None
    path = folder / f"{name}.json"
    if not _inside(folder, path):
        return None
    return _read(path, redactor)


def _inside(folder: Path, path: Path) -> bool:
    """A results file that is really in ``folder``: not a link to a file elsewhere."""
    return path.is_file() and path.resolve().parent == folder.resolve()
