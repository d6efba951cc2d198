"""How a call through the gate ended, and what the model is told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tether.gate._decision import Allow, Deny, NeedsApproval
from tether.gate._output import CheckedOutput

AWAITING_APPROVAL_TEXT = (
    "This action needs a person's approval. It has been sent for approval; "
    "do not retry it, and tell the user it is waiting."
)


@dataclass(frozen=True, kw_only=True)
class Executed:
    """The tool ran and its result passed the output checks."""

    decision: Allow | NeedsApproval
    output: CheckedOutput
    duration_seconds: float
    kind: Literal["executed"] = "executed"

    @property
    def model_text(self) -> str:
        return self.output.text


@dataclass(frozen=True, kw_only=True)
class Refused:
    """The policy denied the call; it did not run."""

    decision: Deny
    kind: Literal["refused"] = "refused"

    @property
    def model_text(self) -> str:
        return self.decision.model_message


@dataclass(frozen=True, kw_only=True)
class AwaitingApproval:
    """The call waits for a person; it has not run."""

    decision: NeedsApproval
    kind: Literal["awaiting_approval"] = "awaiting_approval"

    @property
    def model_text(self) -> str:
        return AWAITING_APPROVAL_TEXT


@dataclass(frozen=True, kw_only=True)
class Failed:
    """Allowed, but not completed: the tool raised, timed out or returned bad output."""

    decision: Allow | NeedsApproval
    error: str
    """What went wrong, redacted; safe to show the model."""
    kind: Literal["failed"] = "failed"

    @property
    def model_text(self) -> str:
        return f"The action failed: {self.error}"


CallOutcome = Executed | Refused | AwaitingApproval | Failed
