"""Human approval: calls held for a person's decision, bound to exact arguments.

Names are imported when first used: reading requests loads neither the notifiers
(SMTP, HTTP) nor the gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.approvals._approvals import Approvals, EventSink, Notifier
    from tether.approvals._errors import (
        ApprovalClosed,
        ApprovalError,
        ApprovalExpired,
        ApprovalInvalid,
        ApprovalNotFound,
        AssuranceRequired,
        BreakGlassRefused,
        DuplicateVote,
        EditRefused,
        NotAnApprover,
        NotTheRequester,
        SelfApproval,
    )
    from tether.approvals._model import ApprovalRequest, Status, Verdict, Vote, args_hash
    from tether.approvals._notify import EmailNotifier, WebhookNotifier, describe
    from tether.approvals._rules import check_approver, check_open, may_decide, render_args
    from tether.approvals._store import ApprovalStore, pending_runs_query

_WHERE: dict[str, str] = {
    "ApprovalClosed": "tether.approvals._errors",
    "ApprovalError": "tether.approvals._errors",
    "ApprovalExpired": "tether.approvals._errors",
    "ApprovalInvalid": "tether.approvals._errors",
    "ApprovalNotFound": "tether.approvals._errors",
    "ApprovalRequest": "tether.approvals._model",
    "ApprovalStore": "tether.approvals._store",
    "Approvals": "tether.approvals._approvals",
    "AssuranceRequired": "tether.approvals._errors",
    "BreakGlassRefused": "tether.approvals._errors",
    "DuplicateVote": "tether.approvals._errors",
    "EditRefused": "tether.approvals._errors",
    "EmailNotifier": "tether.approvals._notify",
    "EventSink": "tether.approvals._approvals",
    "NotAnApprover": "tether.approvals._errors",
    "NotTheRequester": "tether.approvals._errors",
    "Notifier": "tether.approvals._approvals",
    "SelfApproval": "tether.approvals._errors",
    "Status": "tether.approvals._model",
    "Verdict": "tether.approvals._model",
    "Vote": "tether.approvals._model",
    "WebhookNotifier": "tether.approvals._notify",
    "args_hash": "tether.approvals._model",
    "check_approver": "tether.approvals._rules",
    "check_open": "tether.approvals._rules",
    "describe": "tether.approvals._notify",
    "may_decide": "tether.approvals._rules",
    "pending_runs_query": "tether.approvals._store",
    "render_args": "tether.approvals._rules",
}
"""Where each public name lives: imported when first used."""

__all__ = [
    "ApprovalClosed",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalInvalid",
    "ApprovalNotFound",
    "ApprovalRequest",
    "ApprovalStore",
    "Approvals",
    "AssuranceRequired",
    "BreakGlassRefused",
    "DuplicateVote",
    "EditRefused",
    "EmailNotifier",
    "EventSink",
    "NotAnApprover",
    "NotTheRequester",
    "Notifier",
    "SelfApproval",
    "Status",
    "Verdict",
    "Vote",
    "WebhookNotifier",
    "args_hash",
    "check_approver",
    "check_open",
    "describe",
    "may_decide",
    "pending_runs_query",
    "render_args",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
