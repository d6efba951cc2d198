"""tether: run AI agents that act on business systems, and keep them under control.

Every tool call an agent proposes passes one gate: identify, permit, check inputs,
approve, execute, check output, record. This package is the public API; modules
whose names start with an underscore are internal.
"""

from tether._version import __version__
from tether.calls import Principal, ProposedCall, RunState
from tether.errors import (
    ConfigurationError,
    PolicyError,
    PolicyIssue,
    TetherError,
    ToolArgumentsError,
    ToolCallError,
    ToolOutputError,
    UnknownToolError,
)
from tether.gate import (
    Allow,
    ApprovalRequirement,
    AwaitingApproval,
    CallOutcome,
    CheckedOutput,
    Decision,
    Deny,
    Executed,
    Failed,
    Gate,
    GateEvent,
    NeedsApproval,
    Recorder,
    Refused,
    evaluate,
)
from tether.policy import Policy, load_policy, load_policy_text
from tether.redaction import Redactor
from tether.tools import Effect, Tool, ToolContext, Toolset, tool

__all__ = [
    "Allow",
    "ApprovalRequirement",
    "AwaitingApproval",
    "CallOutcome",
    "CheckedOutput",
    "ConfigurationError",
    "Decision",
    "Deny",
    "Effect",
    "Executed",
    "Failed",
    "Gate",
    "GateEvent",
    "NeedsApproval",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "Principal",
    "ProposedCall",
    "Recorder",
    "Redactor",
    "Refused",
    "RunState",
    "TetherError",
    "Tool",
    "ToolArgumentsError",
    "ToolCallError",
    "ToolContext",
    "ToolOutputError",
    "Toolset",
    "UnknownToolError",
    "__version__",
    "evaluate",
    "load_policy",
    "load_policy_text",
    "tool",
]
