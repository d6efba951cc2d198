"""Errors of evaluations.

ConfigurationError (tether.errors)
└── ScenarioError       scenario files are invalid (carries every issue, file:line)
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.errors import ConfigurationError


@dataclass(frozen=True, kw_only=True)
class ScenarioIssue:
    """One problem found in a scenario file."""

    file: str
    """The file the problem is in."""
    line: int | None
    """1-based line of the offending value, when known."""
    message: str
    """What is wrong and what to do about it."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ScenarioError(ConfigurationError):
    """Scenarios could not be loaded. ``issues`` lists every problem found; nothing ran."""

    def __init__(self, issues: list[ScenarioIssue]) -> None:
        super().__init__(issues)
        self.issues = issues

    def __str__(self) -> str:
        count = len(self.issues)
        head = f"scenarios are invalid ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])
