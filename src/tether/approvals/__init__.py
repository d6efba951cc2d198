"""Human approval: calls held for a person's decision, bound to exact arguments."""

from tether.approvals._approvals import Approvals, EventSink, Notifier
from tether.approvals._errors import (
    ApprovalClosed,
    ApprovalError,
    ApprovalExpired,
    ApprovalInvalid,
    ApprovalNotFound,
    DuplicateVote,
    EditRefused,
    NotAnApprover,
    SelfApproval,
)
from tether.approvals._model import ApprovalRequest, Status, Verdict, Vote, args_hash
from tether.approvals._notify import EmailNotifier, WebhookNotifier, describe

__all__ = [
    "ApprovalClosed",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalInvalid",
    "ApprovalNotFound",
    "ApprovalRequest",
    "Approvals",
    "DuplicateVote",
    "EditRefused",
    "EmailNotifier",
    "EventSink",
    "NotAnApprover",
    "Notifier",
    "SelfApproval",
    "Status",
    "Verdict",
    "Vote",
    "WebhookNotifier",
    "args_hash",
    "describe",
]
