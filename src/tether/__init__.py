"""tether: run AI agents that act on business systems, and keep them under control.

Every tool call an agent proposes passes one gate: identify, permit, check inputs,
approve, execute, check output, record. This package is the public API; modules
whose names start with an underscore are internal.

Names are imported when first used, so ``import tether`` (and every ``tether``
command) loads only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._version import __version__
from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.agents import Agent, load_agent
    from tether.audit import AuditLog, audited_gate
    from tether.calls import Principal, ProposedCall, RunState
    from tether.config import Config, load_config
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
    from tether.identity import Actor
    from tether.policy import Policy, load_policy, load_policy_text
    from tether.redaction import Redactor
    from tether.runtime import RunRecord, Runtime
    from tether.tools import Effect, ReadBack, Tool, ToolContext, Toolset, tool

_WHERE = {
    "Actor": "tether.identity",
    "Agent": "tether.agents",
    "Allow": "tether.gate",
    "ApprovalRequirement": "tether.gate",
    "AuditLog": "tether.audit",
    "AwaitingApproval": "tether.gate",
    "CallOutcome": "tether.gate",
    "CheckedOutput": "tether.gate",
    "Config": "tether.config",
    "ConfigurationError": "tether.errors",
    "Decision": "tether.gate",
    "Deny": "tether.gate",
    "Effect": "tether.tools",
    "Executed": "tether.gate",
    "Failed": "tether.gate",
    "Gate": "tether.gate",
    "GateEvent": "tether.gate",
    "NeedsApproval": "tether.gate",
    "Policy": "tether.policy",
    "PolicyError": "tether.errors",
    "PolicyIssue": "tether.errors",
    "Principal": "tether.calls",
    "ProposedCall": "tether.calls",
    "ReadBack": "tether.tools",
    "Recorder": "tether.gate",
    "Redactor": "tether.redaction",
    "Refused": "tether.gate",
    "RunRecord": "tether.runtime",
    "RunState": "tether.calls",
    "Runtime": "tether.runtime",
    "TetherError": "tether.errors",
    "Tool": "tether.tools",
    "ToolArgumentsError": "tether.errors",
    "ToolCallError": "tether.errors",
    "ToolContext": "tether.tools",
    "ToolOutputError": "tether.errors",
    "Toolset": "tether.tools",
    "UnknownToolError": "tether.errors",
    "audited_gate": "tether.audit",
    "evaluate": "tether.gate",
    "load_agent": "tether.agents",
    "load_config": "tether.config",
    "load_policy": "tether.policy",
    "load_policy_text": "tether.policy",
    "tool": "tether.tools",
}

__all__ = [
    "Actor",
    "Agent",
    "Allow",
    "ApprovalRequirement",
    "AuditLog",
    "AwaitingApproval",
    "CallOutcome",
    "CheckedOutput",
    "Config",
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
    "ReadBack",
    "Recorder",
    "Redactor",
    "Refused",
    "RunRecord",
    "RunState",
    "Runtime",
    "TetherError",
    "Tool",
    "ToolArgumentsError",
    "ToolCallError",
    "ToolContext",
    "ToolOutputError",
    "Toolset",
    "UnknownToolError",
    "__version__",
    "audited_gate",
    "evaluate",
    "load_agent",
    "load_config",
    "load_policy",
    "load_policy_text",
    "tool",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
