"""tether's exceptions.

    TetherError
    ├── ConfigurationError       tether was set up wrongly: fix the file or the call
    │   ├── FileIssues           a file is invalid (carries every issue, with lines)
    │   │   ├── PolicyError      … a policy file
    │   │   ├── ConfigFileError  … a tether.yaml
    │   │   ├── AgentFileError   … an agent file
    │   │   └── ScenarioError    … an evaluation scenario (tether.evals)
    │   ├── DatabaseError        the database URL or schema is unusable
    │   ├── SQLiteTooOld         the interpreter's SQLite is too old (tether.db)
    │   └── UnknownToolError     a name that no toolset provides
    ├── ToolCallError            a tool call could not be completed (crosses durable steps)
    │   ├── ToolArgumentsError   the arguments do not match the tool's schema
    │   └── ToolOutputError      the tool's result failed the output checks
    └── RunHalted                tether ended a run for its own safety (a loop of refusals)

Errors that may cross a durable step boundary keep their constructor arguments in
``args`` so they pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TetherError(Exception):
    """Base of every error tether raises on purpose."""


class ConfigurationError(TetherError):
    """tether was configured wrongly; the message says what to change."""


class UnknownAccountError(TetherError):
    """A decision in the name of someone who is no user (of the policy or the console)."""

    reason = "unknown_account"

    def __init__(self, account: str) -> None:
        super().__init__(f"{account!r} is not a user: decisions are made by known users only")
        self.account = account


class RunHalted(TetherError):
    """tether ended a run: the agent kept proposing a call that was refused."""

    def __init__(self, tool: str, times: int, refusal: str) -> None:
        super().__init__(tool, times, refusal)
        self.tool = tool
        self.times = times
        self.refusal = refusal

    def __str__(self) -> str:
        return (
            f"halted: the agent proposed the same refused call of {self.tool} {self.times} "
            f"times (refused: {self.refusal}); tether ended the run rather than let it loop"
        )


@dataclass(frozen=True, kw_only=True)
class FileIssue:
    """One problem found in a file tether reads (a policy, a scenario)."""

    file: str
    """The file the problem is in."""
    line: int | None
    """1-based line of the offending value, when the YAML had one."""
    message: str
    """What is wrong and what to do about it."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class FileIssues(ConfigurationError):
    """Files could not be loaded. ``issues`` lists every problem found."""

    invalid = "input is invalid"
    """How the message starts, e.g. ``policy is invalid``."""

    def __init__(self, issues: Sequence[FileIssue]) -> None:
        super().__init__(issues)
        self.issues = list(issues)

    def __str__(self) -> str:
        count = len(self.issues)
        head = f"{self.invalid} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])


@dataclass(frozen=True, kw_only=True)
class PolicyIssue(FileIssue):
    """One problem found in a policy file."""


class PolicyError(FileIssues):
    """A policy could not be loaded. ``issues`` lists every problem found."""

    invalid = "policy is invalid"
    issues: list[PolicyIssue]  # type: ignore[assignment]


@dataclass(frozen=True, kw_only=True)
class ConfigIssue(FileIssue):
    """One problem found in a configuration file (``tether.yaml``)."""


class ConfigFileError(FileIssues):
    """A ``tether.yaml`` could not be loaded. ``issues`` lists every problem found."""

    invalid = "configuration is invalid"
    issues: list[ConfigIssue]  # type: ignore[assignment]


class AgentFileError(FileIssues):
    """An agent file could not be loaded. ``issues`` lists every problem found."""

    invalid = "agent file is invalid"


class UnknownToolError(ConfigurationError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name, known)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown tool {self.name!r}; known tools: {', '.join(self.known) or '(none)'}"


class ToolCallError(TetherError):
    """A tool call could not be completed. ``message`` is safe to show the model."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(tool, message)
        self.tool = tool
        self.message = message

    def __str__(self) -> str:
        return f"{self.tool}: {self.message}"


class ToolArgumentsError(ToolCallError):
    """The arguments do not match the tool's declared parameters."""


class ToolOutputError(ToolCallError):
    """The tool's result does not match its declared return type."""
