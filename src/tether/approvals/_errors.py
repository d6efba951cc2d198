"""Why an approval action was refused. Each carries the request id and pickles."""

from __future__ import annotations

from tether.errors import TetherError


class ApprovalError(TetherError):
    """An approval action was refused; ``reason`` is a stable code, the message says why."""

    reason = "refused"
    status_code = 409

    def __init__(self, request_id: str, message: str) -> None:
        super().__init__(request_id, message)
        self.request_id = request_id
        self.message = message

    def __str__(self) -> str:
        return f"approval {self.request_id}: {self.message}"


class ApprovalNotFound(ApprovalError):
    reason = "not_found"
    status_code = 404


class ApprovalClosed(ApprovalError):
    """The request was already decided, expired, cancelled or executed."""

    reason = "closed"


class ApprovalExpired(ApprovalClosed):
    reason = "expired"


class NotAnApprover(ApprovalError):
    """The user does not hold an approver role for the rule that required approval."""

    reason = "not_an_approver"
    status_code = 403


class AssuranceRequired(NotAnApprover):
    """The rule demands an authenticated approver; this decision was made without a login."""

    reason = "assurance_required"


class BreakGlassRefused(ApprovalError):
    """A break-glass approval without the role, a written reason or a login."""

    reason = "break_glass_refused"
    status_code = 403


class NotTheRequester(ApprovalError):
    """Only the person a held call was made for may withdraw it."""

    reason = "not_the_requester"
    status_code = 403


class SelfApproval(ApprovalError):
    """Nobody approves their own request."""

    reason = "self_approval"
    status_code = 403


class DuplicateVote(ApprovalError):
    """This approver already approved the request as it stands."""

    reason = "duplicate_vote"


class EditRefused(ApprovalError):
    """The edited arguments fail validation or the policy."""

    reason = "edit_refused"
    status_code = 422


class ApprovalInvalid(ApprovalError):
    """The approval no longer matches the call (arguments or policy changed): not executed."""

    reason = "invalid"
