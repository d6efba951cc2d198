"""An approval request and its votes, as read from the store."""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from tether.audit import canonical_json

Status = Literal["pending", "approved", "rejected", "expired", "cancelled", "executed"]
Verdict = Literal["approve", "reject", "edit"]
"""``edit``: arguments changed into a call that needs other approvers; it counts for none."""


def args_hash(args: dict[str, Any]) -> str:
    """SHA-256 of the arguments' canonical JSON: what an approval is bound to."""
    return hashlib.sha256(canonical_json(args).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Vote:
    approver: str
    verdict: Verdict
    args_hash: str
    """The arguments the vote was cast for."""
    edited_args: dict[str, Any] | None
    comment: str | None
    at: _dt.datetime
    actor: dict[str, Any] | None = None
    """Who cast it and how they were authenticated (surface, method, account), as
    recorded; None for votes cast before tether recorded it."""

    @property
    def break_glass(self) -> bool:
        return bool(self.actor and self.actor.get("break_glass"))


@dataclass(frozen=True, kw_only=True)
class ApprovalRequest:
    """A call held for a person's decision."""

    id: str
    run_id: str
    call_id: str
    agent: str
    requested_by: str
    """The principal the agent acts for: never an approver of this request."""
    tool: str
    args: dict[str, Any]
    """The arguments the call will run with (the edited ones, once edited)."""
    args_hash: str
    shown_args: dict[str, Any]
    """The arguments as approvers see them: secrets redacted."""
    preview: str
    """What will happen: the tool's preview, or the arguments rendered readably."""
    why: str
    rule: str
    reason: str
    approvers: tuple[str, ...]
    quorum: int
    policy_version: str
    status: Status
    created_at: _dt.datetime
    expires_at: _dt.datetime
    escalate_at: _dt.datetime | None
    escalate_to: tuple[str, ...]
    escalated: bool
    decided_at: _dt.datetime | None
    comment: str | None
    votes: tuple[Vote, ...] = ()
    assurance: str = "local"
    """The least assurance an approver's login needs (``authenticated``: no local decisions)."""

    @property
    def break_glass(self) -> bool:
        """Decided through the emergency path (shown as such everywhere)."""
        return any(vote.break_glass for vote in self.votes)

    @property
    def approvals(self) -> tuple[str, ...]:
        """Who approved the arguments as they now stand, each person once."""
        return tuple(
            dict.fromkeys(
                vote.approver
                for vote in self.votes
                if vote.verdict == "approve" and vote.args_hash == self.args_hash
            )
        )

    @property
    def edited(self) -> bool:
        return any(vote.edited_args is not None for vote in self.votes)

    def eligible_refs(self, now: _dt.datetime) -> tuple[str, ...]:
        """The approver references in force: escalation adds its roles once due."""
        if self.escalate_at is not None and now >= self.escalate_at:
            return self.approvers + self.escalate_to
        return self.approvers

    def seconds_left(self, now: _dt.datetime) -> float:
        return max(0.0, (self.expires_at - now).total_seconds())

    def summary(self, now: _dt.datetime) -> dict[str, Any]:
        """The request as JSON (arguments as shown to approvers, secrets redacted): what
        ``tether approvals show --json`` prints, and the base of the console's view."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "call_id": self.call_id,
            "agent": self.agent,
            "requested_by": self.requested_by,
            "tool": self.tool,
            "args": self.shown_args,
            "preview": self.preview,
            "why": self.why,
            "rule": self.rule,
            "reason": self.reason,
            "approvers": list(self.approvers),
            "quorum": self.quorum,
            "approved_by": list(self.approvals),
            "status": self.status,
            "assurance": self.assurance,
            "break_glass": self.break_glass,
            "votes": [
                {
                    "by": vote.approver,
                    "verdict": vote.verdict,
                    "at": vote.at.isoformat(),
                    **({"actor": vote.actor} if vote.actor else {}),
                }
                for vote in self.votes
            ],
            "expires_at": self.expires_at.isoformat(),
            "seconds_left": round(self.seconds_left(now)),
        }
