"""The action gate: one pipeline for every proposed tool call."""

from tether.gate._decision import (
    Allow,
    ApprovalRequirement,
    Decision,
    Deny,
    Finding,
    NeedsApproval,
)
from tether.gate._evaluate import Evaluation, LimitClaim, evaluate
from tether.gate._events import BatchRecorder, GateEvent, GateEventType, Recorder, record_all
from tether.gate._gate import Assessment, Gate, Recheck
from tether.gate._limits import LimitBreach, LimitLedger
from tether.gate._outcome import (
    AwaitingApproval,
    CallOutcome,
    Executed,
    Failed,
    Refused,
)
from tether.gate._output import CheckedOutput, check_output
from tether.gate._readback import Discrepancy, Observed, OutcomeStatus, compare, observed_from

__all__ = [
    "Allow",
    "ApprovalRequirement",
    "Assessment",
    "AwaitingApproval",
    "BatchRecorder",
    "CallOutcome",
    "CheckedOutput",
    "Decision",
    "Deny",
    "Discrepancy",
    "Evaluation",
    "Executed",
    "Failed",
    "Finding",
    "Gate",
    "GateEvent",
    "GateEventType",
    "LimitBreach",
    "LimitClaim",
    "LimitLedger",
    "NeedsApproval",
    "Observed",
    "OutcomeStatus",
    "Recheck",
    "Recorder",
    "Refused",
    "check_output",
    "compare",
    "evaluate",
    "observed_from",
    "record_all",
]
