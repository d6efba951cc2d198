"""Refusals: each with a status code, a stable reason and a message that says why."""

from __future__ import annotations

from tether.approvals import ApprovalError, ApprovalExpired


class Refused(Exception):
    """The console refused a request. Recorded in the audit trail unless ``recorded``
    says the service already did (the approvals service records its own refusals)."""

    def __init__(
        self,
        status_code: int,
        reason: str,
        message: str,
        *,
        request_id: str | None = None,
        recorded: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status_code, reason, message)
        self.status_code = status_code
        self.reason = reason
        self.message = message
        self.request_id = request_id
        self.recorded = recorded
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.status_code} {self.reason}: {self.message}"


def from_approval_error(error: ApprovalError, *, current_status: str | None = None) -> Refused:
    """The refusal for what the approvals service refused (it has recorded it).

    A request that expired answers 410 Gone, whether it expired just now or before.
    """
    status = error.status_code
    if isinstance(error, ApprovalExpired) or current_status == "expired":
        status = 410
    return Refused(status, error.reason, error.message, request_id=error.request_id, recorded=True)
