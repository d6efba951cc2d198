"""Errors of evaluations.

ConfigurationError (tether.errors)
└── ScenarioError       scenario files are invalid (carries every issue, file:line)
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.errors import FileIssue, FileIssues


@dataclass(frozen=True, kw_only=True)
class ScenarioIssue(FileIssue):
    """One problem found in a scenario file."""


class ScenarioError(FileIssues):
    """Scenarios could not be loaded. ``issues`` lists every problem found; nothing ran."""

    invalid = "scenarios are invalid"
    issues: list[ScenarioIssue]  # type: ignore[assignment]
