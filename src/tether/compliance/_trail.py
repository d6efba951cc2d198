"""What the audit trail shows over a time range: every figure of the compliance report
that comes from the trail is counted here, in one pass over the range's events."""

from __future__ import annotations

import datetime as _dt
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.audit import StoredEvent

RUBBER_STAMP_SECONDS = 10.0
"""An approval decided this soon after it was requested was hardly read."""
NO_RUN = "-"
"""The run id of events that belong to no run (stop switches, the console's refusals)."""


@dataclass(frozen=True, kw_only=True)
class Pruning:
    """One ``tether audit prune``: when, the retention it applied, how much, by whom."""

    at: _dt.datetime
    older_than_days: float
    removed: int
    by: str


@dataclass
class TrailFacts:
    """Counts over the events of one time range, each named by what it counts."""

    since: _dt.datetime | None
    until: _dt.datetime | None
    events: int = 0
    first_at: _dt.datetime | None = None
    last_at: _dt.datetime | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    by_type: Counter[str] = field(default_factory=Counter)
    runs: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    decisions: Counter[str] = field(default_factory=Counter)
    """``call.decided`` events by decision kind."""
    default_denials: int = 0
    """Denials by ``default-deny``: nothing granted the call."""
    stop_denials: int = 0
    """Calls refused because an agent's stop switch was on."""
    limit_denials: int = 0
    """Calls refused by a limit (rule ids of the policy's limits)."""
    untrusted_decisions: int = 0
    """Calls decided after their run had read untrusted content."""
    untrusted_held: int = 0
    """Of those, how many were refused or held for a person."""
    approvals_requested: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    """``approval.decided`` events by the vote's verdict (approve, reject, edit, expired)."""
    closed: Counter[str] = field(default_factory=Counter)
    """Requests closed, by how (approved, rejected, expired, cancelled)."""
    edited: int = 0
    """Approvals whose approver changed the arguments."""
    confirmations: int = 0
    """Decisions by the person the agent acted for, on a rule that asked them to confirm."""
    deciders: Counter[str] = field(default_factory=Counter)
    """Who decided approvals (the authenticated account)."""
    methods: Counter[str] = field(default_factory=Counter)
    """How the deciders had authenticated (password, api_token, oidc, local)."""
    refusals: Counter[str] = field(default_factory=Counter)
    """Attempts to decide that the rules refused (self_approval, not_an_approver…)."""
    decision_seconds: list[float] = field(default_factory=list)
    """From request to the decision that closed it, per request asked in the range."""
    approved_seconds: list[float] = field(default_factory=list)
    """The same, for the requests that were approved."""
    stops: int = 0
    resumes: int = 0
    stoppers: Counter[str] = field(default_factory=Counter)
    runs_stopped: int = 0
    runs_finished: int = 0
    executed: int = 0
    failed: int = 0
    untrusted_outputs: int = 0
    redacted_outputs: int = 0
    truncated_outputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    """Outcome records of executed calls by status (confirmed, discrepancy, unread)."""
    access_refused: int = 0
    prunes: list[Pruning] = field(default_factory=list)
    """Each pruning of the log recorded in the range (``audit.pruned``)."""
    _requested_at: dict[str, _dt.datetime] = field(default_factory=dict, repr=False)

    @property
    def fast_approvals(self) -> int:
        return sum(1 for seconds in self.approved_seconds if seconds < RUBBER_STAMP_SECONDS)

    @property
    def median_decision_seconds(self) -> float | None:
        return statistics.median(self.decision_seconds) if self.decision_seconds else None



def read_trail(
    events: Iterable[StoredEvent],
    *,
    since: _dt.datetime | None,
    until: _dt.datetime | None,
    limit_rules: frozenset[str],
) -> TrailFacts:
    """Count what ``events`` (the range's, in order) show."""
    facts = TrailFacts(since=since, until=until)
    for stored in events:
        _count(facts, stored, limit_rules)
    return facts


def _count(facts: TrailFacts, stored: StoredEvent, limit_rules: frozenset[str]) -> None:
    event = stored.event
    facts.events += 1
    facts.first_at = facts.first_at or event.at
    facts.last_at = event.at
    facts.first_seq = facts.first_seq or stored.seq
    facts.last_seq = stored.seq
    facts.by_type[event.type] += 1
    if event.run_id != NO_RUN:
        facts.runs.add(event.run_id)
    if event.agent:
        facts.agents.add(event.agent)
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(facts, stored, limit_rules)


def _decided(facts: TrailFacts, stored: StoredEvent, limit_rules: frozenset[str]) -> None:
    event = stored.event
    decision = dict(event.decision or {})
    kind = str(decision.get("kind"))
    facts.decisions[kind] += 1
    rules = {str(rule) for rule in decision.get("rules") or ()}
    if kind == "deny":
        facts.default_denials += "default-deny" in rules
        facts.stop_denials += "stop-switch" in rules
        facts.limit_denials += bool(rules & limit_rules)
    if (event.details or {}).get("run_untrusted"):
        facts.untrusted_decisions += 1
        facts.untrusted_held += kind != "allow"


def _requested(facts: TrailFacts, stored: StoredEvent, _: frozenset[str]) -> None:
    facts.approvals_requested += 1
    request = (stored.event.approval or {}).get("request_id")
    if request:
        facts._requested_at[str(request)] = stored.event.at


def _approval_decided(facts: TrailFacts, stored: StoredEvent, _: frozenset[str]) -> None:
    event = stored.event
    approval = dict(event.approval or {})
    facts.verdicts[str(approval.get("verdict") or "decided")] += 1
    facts.edited += bool(approval.get("edited_args"))
    facts.confirmations += bool(approval.get("confirmation"))
    actor: dict[str, Any] = dict(event.actor or {})
    who = actor.get("account") or approval.get("by")
    if who:
        facts.deciders[str(who)] += 1
    if actor.get("method"):
        facts.methods[str(actor["method"])] += 1
    status = str(approval.get("status") or "")
    if status in ("", "pending"):
        return
    facts.closed[status] += 1
    asked = facts._requested_at.get(str(approval.get("request_id")))
    if asked is not None:
        seconds = (event.at - asked).total_seconds()
        facts.decision_seconds.append(seconds)
        if status == "approved":
            facts.approved_seconds.append(seconds)


def _refused(facts: TrailFacts, stored: StoredEvent, _: frozenset[str]) -> None:
    facts.refusals[str((stored.event.approval or {}).get("refusal") or "refused")] += 1


def _stopped(facts: TrailFacts, stored: StoredEvent, _: frozenset[str]) -> None:
    facts.stops += 1
    actor = dict(stored.event.actor or {})
    facts.stoppers[str(actor.get("account") or "unknown")] += 1


def _resumed(facts: TrailFacts, _stored: StoredEvent, _: frozenset[str]) -> None:
    facts.resumes += 1


def _run_stopped(facts: TrailFacts, _stored: StoredEvent, _: frozenset[str]) -> None:
    facts.runs_stopped += 1


def _run_finished(facts: TrailFacts, _stored: StoredEvent, _: frozenset[str]) -> None:
    facts.runs_finished += 1


def _executed(facts: TrailFacts, stored: StoredEvent, _: frozenset[str]) -> None:
    facts.executed += 1
    effect = dict(stored.event.effect or {})
    facts.untrusted_outputs += bool(effect.get("untrusted"))
    facts.redacted_outputs += bool(effect.get("redacted"))
    facts.truncated_outputs += bool(effect.get("truncated"))
    outcome = effect.get("outcome")
    if isinstance(outcome, dict):
        facts.outcomes[str(outcome.get("status"))] += 1


def _failed(facts: TrailFacts, _stored: StoredEvent, _: frozenset[str]) -> None:
    facts.failed += 1


def _access_refused(facts: TrailFacts, _stored: StoredEvent, _: frozenset[str]) -> None:
    facts.access_refused += 1


def _pruned(facts: TrailFacts, stored: StoredEvent, _: frozenset[str]) -> None:
    details = dict(stored.event.details or {})
    kept = details.get("older_than_days")
    if not isinstance(kept, int | float):
        return
    facts.prunes.append(
        Pruning(
            at=stored.event.at,
            older_than_days=float(kept),
            removed=int(details.get("removed") or 0),
            by=str(dict(stored.event.actor or {}).get("account") or "unknown"),
        )
    )


_HANDLERS = {
    "call.decided": _decided,
    "approval.requested": _requested,
    "approval.decided": _approval_decided,
    "approval.refused": _refused,
    "agent.stopped": _stopped,
    "agent.resumed": _resumed,
    "run.stopped": _run_stopped,
    "run.finished": _run_finished,
    "call.executed": _executed,
    "call.failed": _failed,
    "access.refused": _access_refused,
    "audit.pruned": _pruned,
}
