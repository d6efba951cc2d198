"""The gate's decision: allow, deny or needs_approval, each explaining itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal

from tether.tools import Effect


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """What one rule said about a call."""

    rule: str
    """The rule's id in the policy."""
    message: str
    """Why, for the operator (may name policy internals)."""


@dataclass(frozen=True, kw_only=True)
class ApprovalRequirement:
    """Who must confirm a call before it runs, and by when."""

    rule: str
    """The rule that required approval."""
    reason: str
    """Why approval is needed."""
    approvers: tuple[str, ...]
    """``role:X`` / ``user:Y`` references of who may decide."""
    quorum: int
    """How many distinct approvers must approve."""
    expires_after: timedelta
    """How long the request stays open."""
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()
    assurance: str = "local"
    """The least assurance an approver's login needs (``authenticated``: no local decisions)."""


@dataclass(frozen=True, kw_only=True)
class _Decided:
    rules: tuple[str, ...]
    """Ids of the rules that decided the call."""
    reasons: tuple[str, ...]
    """Why, for the operator and the audit trail."""
    policy_version: str
    """The version (content hash) of the policy that decided."""
    effect: Effect | None
    """The effect class the decision took for the tool (None if the tool is unknown)."""
    shadow: tuple[Finding, ...] = ()
    """Rules in shadow mode that would have refused or escalated the call."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rules"] = list(self.rules)
        data["reasons"] = list(self.reasons)
        data["shadow"] = [asdict(finding) for finding in self.shadow]
        data["effect"] = self.effect.value if self.effect else None
        jsonable: dict[str, Any] = _jsonable(data)
        return jsonable


@dataclass(frozen=True, kw_only=True)
class Allow(_Decided):
    """The call may run now."""

    kind: Literal["allow"] = "allow"


@dataclass(frozen=True, kw_only=True)
class Deny(_Decided):
    """The call must not run."""

    model_message: str
    """A short, safe explanation for the model (no policy internals), so it can re-plan."""
    kind: Literal["deny"] = "deny"


@dataclass(frozen=True, kw_only=True)
class NeedsApproval(_Decided):
    """The call may run once the approvers named in ``approval`` confirm it."""

    approval: ApprovalRequirement
    kind: Literal["needs_approval"] = "needs_approval"


Decision = Allow | Deny | NeedsApproval


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value
