"""Approval requests: created when the gate says needs_approval, decided by people.

Rules enforced here, whatever the surface (CLI, web, API, gateway):
- who may decide and when: :mod:`tether.approvals._rules`;
- an edit is checked again by the gate (schema, permit, conditions, limits) and
  resets the count: votes bind to the hash of the exact arguments;
- an approval is single use and is checked again just before execution.

The requests live in :class:`~tether.approvals._store.ApprovalStore`; what this needs
of the gate (check a changed call again, give back or claim its limits, show its
arguments) it asks the gate for.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Connection, Engine

from tether.approvals import _rules as rules
from tether.approvals._errors import (
    ApprovalClosed,
    ApprovalError,
    ApprovalExpired,
    ApprovalInvalid,
    ApprovalNotFound,
    DuplicateVote,
    EditRefused,
    NotTheRequester,
)
from tether.approvals._events import approval_event, refusal_event
from tether.approvals._model import ApprovalRequest, Status, Verdict, Vote, args_hash
from tether.approvals._recheck import Edit, Rechecks
from tether.approvals._store import ApprovalStore
from tether.audit import AuditEvent, EventType
from tether.calls import ProposedCall, RunState
from tether.db import write_transaction
from tether.gate import ApprovalRequirement, Gate, NeedsApproval, Released
from tether.identity import Actor, as_actor
from tether.policy import Policy


class EventSink(Protocol):
    """Where approval events go: the audit trail."""

    def append(self, event: AuditEvent) -> Any: ...


class Notifier(Protocol):
    """Tells approvers a request waits for them (email, webhook)."""

    def notify(self, request: ApprovalRequest, recipients: Sequence[str]) -> None: ...


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class Approvals:
    """The approval requests of one tether database, under one gate's policy."""

    def __init__(
        self,
        gate: Gate,
        engine: Engine,
        *,
        audit: EventSink | None = None,
        notifiers: Sequence[Notifier] = (),
        clock: Callable[[], _dt.datetime] = _now,
        run_state: Callable[[str], RunState] | None = None,
    ) -> None:
        self.gate = gate
        self.engine = engine
        self.store = ApprovalStore(engine)
        self.audit = audit
        self.notifiers = list(notifiers)
        self.clock = clock
        self.rechecks = Rechecks(gate, run_state or (lambda run_id: RunState(id=run_id)))
        """The requests' calls checked by the gate again (edits, policy changes)."""

    @property
    def policy(self) -> Policy:
        return self.gate.policy

    # --- creating ---------------------------------------------------------------

    def request(
        self, call: ProposedCall, decision: NeedsApproval, *, preview: str | None = None
    ) -> ApprovalRequest:
        """Store an approval request for ``call`` and notify its approvers.

        Idempotent per call: asking again for the same run and call (a step that ran
        again after a crash) returns the request already made, without notifying twice.
        """
        existing = self.store.for_call(call.run.id, call.call_id)
        if existing is not None:
            return existing
        now = self.clock()
        tool = self.policy.tools.get(call.tool)
        args = tool.args_model.model_validate(dict(call.args)).model_dump(mode="json")
        shown = self.gate.shown_args(call.tool, args)
        scrub = self.gate.scrubber(call).redact_text  # the model may repeat a secret
        requirement = decision.approval
        row = {
            "id": f"apr_{uuid.uuid4().hex[:20]}",
            "run_id": call.run.id,
            "call_id": call.call_id,
            "agent": call.agent,
            "requested_by": call.principal.id,
            "tool": call.tool,
            "args": args,
            "args_hash": args_hash(args),
            "shown_args": shown,
            "preview": scrub(
                preview or rules.preview(tool, args, fallback=rules.render_args(call.tool, shown))
            ),
            "why": scrub(call.why),
            "rule": requirement.rule,
            "reason": requirement.reason,
            "approvers": list(requirement.approvers),
            "quorum": requirement.quorum,
            "policy_version": decision.policy_version,
            "status": "pending",
            "created_at": now,
            "expires_at": now + requirement.expires_after,
            "escalate_at": now + requirement.escalate_after if requirement.escalate_after else None,
            "escalate_to": list(requirement.escalate_to),
            "escalated": False,
            "assurance": requirement.assurance,
        }
        self.store.insert(row)
        request = self.store.get(str(row["id"]))
        self._record("approval.requested", request)
        self._notify(request, request.approvers)
        return request

    def duplicate_of(
        self, call: ProposedCall, *, executed_since: _dt.datetime | None = None
    ) -> ApprovalRequest | None:
        """A request of the same run for exactly this action (same tool, same arguments)
        that is pending, approved or done (with ``executed_since``: approved since
        then): asking again would only ask twice."""
        tool = self.policy.tools.get(call.tool)
        try:
            args = tool.args_model.model_validate(dict(call.args)).model_dump(mode="json")
        except ValueError:
            return None
        return self.store.same_call(
            call.run.id,
            call.tool,
            args_hash(args),
            other_than=call.call_id,
            executed_since=executed_since,
        )

    # --- reading ----------------------------------------------------------------

    def get(self, request_id: str) -> ApprovalRequest:
        return self.store.get(request_id)

    def for_call(self, run_id: str, call_id: str) -> ApprovalRequest | None:
        """The request made for this call of this run, if any."""
        return self.store.for_call(run_id, call_id)

    def find(
        self,
        *,
        status: Status | None = "pending",
        agent: str | None = None,
        run_id: str | None = None,
    ) -> list[ApprovalRequest]:
        return self.store.find(status=status, agent=agent, run_id=run_id)

    def for_approver(self, user: str) -> list[ApprovalRequest]:
        """Pending requests this user may decide."""
        now = self.clock()
        return [r for r in self.find() if rules.may_decide(self.policy, r, user, now)]

    # --- deciding ---------------------------------------------------------------

    def approve(
        self,
        request_id: str,
        *,
        by: str | Actor,
        edit: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> ApprovalRequest:
        """Approve, optionally with edited arguments (checked by the gate again)."""
        return self._vote(
            request_id, by=as_actor(by), verdict="approve", edit=edit, comment=comment
        )

    def reject(self, request_id: str, *, by: str | Actor, comment: str) -> ApprovalRequest:
        """Reject with a comment; the agent is told, and may re-plan."""
        if not comment or not comment.strip():
            raise EditRefused(request_id, "a rejection needs a comment saying why")
        return self._vote(request_id, by=as_actor(by), verdict="reject", edit=None, comment=comment)

    def _vote(
        self,
        request_id: str,
        *,
        by: Actor,
        verdict: Verdict,
        edit: dict[str, Any] | None,
        comment: str | None,
    ) -> ApprovalRequest:
        # An edit is checked, and its limits settled, before the vote's transaction:
        # the limits take a lock of their own.
        edited: Edit | None = None
        try:
            if by.break_glass and (verdict != "approve" or edit is not None):
                raise EditRefused(request_id, "break-glass only approves, as the request stands")
            if edit is not None:
                before = rules.check_open(self.store.get(request_id), self.clock())
                self._check_decider(before, by, comment)
                edited = self.rechecks.edit(before, edit)
            updated = self._cast(request_id, by=by, verdict=verdict, edited=edited, comment=comment)
        except ApprovalError as refusal:
            if edited is not None:  # the edit's limits were settled: give the old ones back
                self.rechecks.reclaim(edited.before)
            if isinstance(refusal, ApprovalExpired):
                self._expire(request_id)
            self.record_refusal(request_id, by=by, reason=refusal.reason, message=refusal.message)
            raise
        released = self.gate.release_limits(_key(updated)) if updated.status == "rejected" else []
        reopened = edited is not None and edited.requirement is not None
        self._record(
            "approval.decided",
            updated,
            by=by,
            verdict="edited" if reopened else verdict,
            comment=comment,
            edited_args=self.gate.shown_args(updated.tool, edited.args) if edited else None,
            reopened=(
                {"was": {"rule": edited.before.rule, "quorum": edited.before.quorum}}
                if edited is not None and reopened
                else None
            ),
            released=released,
        )
        if reopened:  # other people must now decide: they are told
            self._notify(updated, updated.approvers)
        if by.break_glass:
            self._notify_break_glass(updated)
        return updated

    def _check_decider(self, request: ApprovalRequest, by: Actor, comment: str | None) -> None:
        """Refuse ``by`` unless they may decide ``request`` now, as they authenticated."""
        if by.break_glass:
            rules.check_break_glass(self.policy, request, by, comment)
            return
        rules.check_approver(self.policy, request, by.account, self.clock())
        rules.check_assurance(request, by)

    def _notify_break_glass(self, request: ApprovalRequest) -> None:
        """Everyone who could have decided, and the path's own list, are told at once."""
        spec = self.policy.spec.break_glass
        refs = (*request.approvers, *request.escalate_to, *(spec.notify if spec else ()))
        recipients = sorted(self.policy.users_holding(tuple(refs)))
        for notifier in self.notifiers:
            notifier.notify(request, recipients)

    def _cast(
        self,
        request_id: str,
        *,
        by: Actor,
        verdict: Verdict,
        edited: Edit | None,
        comment: str | None,
    ) -> ApprovalRequest:
        """Store the vote and, when it settles the request, its status (one transaction)."""
        with write_transaction(self.engine, f"approval:{request_id}") as conn:
            request = rules.check_open(self.store.get(request_id, conn=conn), self.clock())
            self._check_decider(request, by, comment)
            if edited is not None and request.args_hash != edited.before.args_hash:
                raise ApprovalClosed(request_id, "another approver changed the arguments meanwhile")
            new_args = edited.args if edited is not None else None
            current_hash = args_hash(new_args) if new_args is not None else request.args_hash
            if verdict == "approve" and by.account in request.approvals and new_args is None:
                raise DuplicateVote(request_id, f"{by.account} has already approved this request")
            requirement = edited.requirement if edited is not None else None
            vote = Vote(
                approver=by.account,
                verdict="edit" if requirement is not None else verdict,
                args_hash=current_hash,
                edited_args=new_args,
                comment=comment,
                at=self.clock(),
                actor=by.record(),
            )
            self.store.add_vote(conn, request_id, vote)
            # What the request now is, without reading it back: the vote added to it, and
            # the new arguments, the status and the time it was settled, as written.
            changes: dict[str, Any] = {}
            if new_args is not None:
                shown = self.gate.shown_args(request.tool, new_args)
                changes.update(
                    args=new_args,
                    args_hash=current_hash,
                    shown_args=shown,
                    preview=rules.render_args(request.tool, shown),
                )
            if requirement is not None:  # re-opened under the stricter rule
                changes.update(_requirement_columns(requirement, self.clock()))
            updated = dataclasses.replace(request, votes=(*request.votes, vote), **_fields(changes))
            status = rules.settled_status(updated, vote.verdict, break_glass=by.break_glass)
            if status != "pending":
                changes.update(status=status, decided_at=self.clock(), comment=comment)
            if changes:
                self.store.update(conn, request_id, changes)
            return dataclasses.replace(updated, **_fields(changes))

    def policy_change(self, request: ApprovalRequest) -> str | None:
        """How the policy in force decides the request's call otherwise than the version
        that asked for the approval (None: alike, or the same version); see
        :meth:`Rechecks.policy_change`."""
        return self.rechecks.policy_change(request)

    # --- execution, expiry, escalation, cancellation -------------------------------

    def claim(self, request_id: str) -> ApprovalRequest:
        """Take an approved request for execution: once, and only as approved.

        Checked again here: the request is approved, its arguments still hash to
        what was approved, and the policy is the version that required approval.
        """
        with self.engine.begin() as conn:
            return self._claim(conn, self.store.get(request_id, conn=conn))

    def claim_call(
        self, run_id: str, call_id: str, *, conn: Connection | None = None
    ) -> ApprovalRequest | None:
        """:meth:`claim` the request made for this call of this run (None: there is
        none); a request this call already claimed (a step run again after a crash)
        is returned as it is. In ``conn``'s transaction when given."""
        if conn is None:
            with self.engine.begin() as own:
                return self.claim_call(run_id, call_id, conn=own)
        request = self.store.for_call(run_id, call_id, conn=conn)
        if request is None or request.status == "executed":
            return request
        return self._claim(conn, request)

    def _claim(self, conn: Connection, request: ApprovalRequest) -> ApprovalRequest:
        if request.status != "approved":
            raise ApprovalClosed(request.id, f"the request is {request.status}, not approved")
        if args_hash(request.args) != request.args_hash:
            raise ApprovalInvalid(request.id, "the arguments changed after approval")
        change = self.policy_change(request)
        if change is not None:
            raise ApprovalInvalid(
                request.id,
                f"the policy changed since approval ({request.policy_version} → "
                f"{self.policy.version}) and {change}: ask again",
            )
        # Only while still approved: of two claims at once, one wins (no lock needed).
        if not self.store.claim(conn, request.id):
            raise ApprovalClosed(request.id, "the request was claimed or closed meanwhile")
        return dataclasses.replace(request, status="executed")

    def decided_calls(
        self, run_id: str, call_ids: Sequence[str]
    ) -> dict[str, ApprovalRequest] | None:
        """The requests of these calls of a run, by call id, once all are decided (None
        while one is still pending, or has no request)."""
        if not call_ids:
            return {}
        found = self.store.of_calls(run_id, call_ids)
        by_call = {request.call_id: request for request in found}
        if set(by_call) != set(call_ids) or any(r.status == "pending" for r in found):
            return None
        return by_call

    def expire_due(self) -> list[ApprovalRequest]:
        """Expire every pending request past its expiry; returns them."""
        due = self.store.due_to_expire(self.clock())
        return [expired for request in due if (expired := self._expire(request.id))]

    def _expire(self, request_id: str) -> ApprovalRequest | None:
        """Mark a pending request expired (rejected by default) and record it."""
        if not self.store.close_pending(request_id, status="expired", decided_at=self.clock()):
            return None
        expired = self.store.get(request_id)
        released = self.gate.release_limits(_key(expired))
        self._record("approval.decided", expired, verdict="expired", released=released)
        return expired

    def escalate_due(self) -> list[ApprovalRequest]:
        """Notify escalation roles of requests whose escalation time has come."""
        escalated = []
        for request in self.store.due_to_escalate(self.clock()):
            if self.store.mark_escalated(request.id):
                escalated.append(dataclasses.replace(request, escalated=True))
                self._notify(request, request.escalate_to)
        return escalated

    def withdraw(
        self, request_id: str, *, by: Actor, reason: str = "withdrawn by the requester"
    ) -> ApprovalRequest:
        """The person a held call was made for withdraws it before it is decided: it is
        cancelled (and never runs), recorded as their ``withdrawn`` verdict. Withdrawing
        only ever stops a call, so no approver's right is needed; anyone else is refused."""
        request = self.store.get(request_id)
        if by.account != request.requested_by:
            raise NotTheRequester(
                request_id,
                f"{by.account} did not ask for this call ({request.requested_by} did) and "
                "cannot withdraw it; its approvers may reject it",
            )
        rules.check_open(request, self.clock())
        closed = self.store.close_pending(
            request_id, status="cancelled", decided_at=self.clock(), comment=reason
        )
        if not closed:
            raise ApprovalClosed(request_id, "it was decided meanwhile")
        withdrawn = self.store.get(request_id)
        released = self.gate.release_limits(_key(withdrawn))
        self._record(
            "approval.decided",
            withdrawn,
            verdict="withdrawn",
            comment=reason,
            by=by,
            released=released,
        )
        return withdrawn

    def cancel(
        self,
        *,
        run_id: str | None = None,
        agent: str | None = None,
        reason: str = "cancelled",
        by: Actor | None = None,
    ) -> list[ApprovalRequest]:
        """Cancel pending requests of a run, of an agent, or (neither given) all of them."""
        cancelled = []
        for request in self.find(run_id=run_id, agent=agent):
            closed = self.store.close_pending(
                request.id, status="cancelled", decided_at=self.clock(), comment=reason
            )
            if closed:
                cancelled.append(dataclasses.replace(request, status="cancelled", comment=reason))
                released = self.gate.release_limits(_key(request))
                self._record(
                    "approval.decided",
                    cancelled[-1],
                    verdict="cancelled",
                    comment=reason,
                    by=by,
                    released=released,
                )
        return cancelled

    # --- helpers --------------------------------------------------------------------

    def _notify(self, request: ApprovalRequest, refs: Sequence[str]) -> None:
        recipients = sorted(self.policy.users_holding(tuple(refs)) - {request.requested_by})
        if rules.PRINCIPAL in refs:  # asked to confirm their own assistant's call
            recipients = sorted({*recipients, request.requested_by})
        for notifier in self.notifiers:
            notifier.notify(request, recipients)

    def _record(
        self,
        kind: EventType,
        request: ApprovalRequest,
        *,
        by: Actor | None = None,
        verdict: str | None = None,
        comment: str | None = None,
        edited_args: dict[str, Any] | None = None,
        reopened: dict[str, Any] | None = None,
        released: Sequence[Released] = (),
    ) -> None:
        """Record an approval event (see :func:`approval_event`)."""
        if self.audit is None:
            return
        self.audit.append(
            approval_event(
                kind,
                request,
                by=by,
                verdict=verdict,
                comment=comment,
                edited_args=edited_args,
                reopened=reopened,
                released=released,
            )
        )

    def record_refusal(
        self,
        request_id: str,
        *,
        by: str | Actor,
        reason: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an attempt to decide ``request_id`` that was refused (``approval.refused``):
        by these rules, or by a front end (the console: a bad CSRF token, a stale form)."""
        if self.audit is None:
            return
        try:
            request: ApprovalRequest | None = self.store.get(request_id)
        except ApprovalNotFound:
            request = None
        self.audit.append(
            refusal_event(
                request_id, request, by=by, reason=reason, message=message, details=details
            )
        )


def _requirement_columns(requirement: ApprovalRequirement, now: _dt.datetime) -> dict[str, Any]:
    """A request's columns under ``requirement``, from ``now``."""
    return {
        "rule": requirement.rule,
        "reason": requirement.reason,
        "approvers": list(requirement.approvers),
        "quorum": requirement.quorum,
        "expires_at": now + requirement.expires_after,
        "escalate_at": now + requirement.escalate_after if requirement.escalate_after else None,
        "escalate_to": list(requirement.escalate_to),
        "escalated": False,
        "assurance": requirement.assurance,
    }


def _fields(columns: dict[str, Any]) -> dict[str, Any]:
    """A request's columns as the record's fields (lists of references as tuples)."""
    return {
        name: tuple(value) if name in ("approvers", "escalate_to") else value
        for name, value in columns.items()
    }


def _key(request: ApprovalRequest) -> str:
    """The idempotency key of the request's call (what its limits are claimed under)."""
    return f"{request.run_id}:{request.call_id}"
