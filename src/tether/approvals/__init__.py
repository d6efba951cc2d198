"""Human approval: calls held for a person's decision, bound to exact arguments."""

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
