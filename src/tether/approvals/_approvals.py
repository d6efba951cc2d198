"""Approval requests: created when the gate says needs_approval, decided by people.

Rules enforced here, whatever the surface (CLI, web, API):
- the approver must be a known user holding an approver role of the rule (or an
  escalation role, once escalation is due);
- nobody approves their own request; each approver counts once;
- an edit is checked again by the gate (schema, permit, conditions, limits) and
  resets the count: votes bind to the hash of the exact arguments;
- a request past its expiry is expired, not decided;
- an approval is single use and is checked again just before execution.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

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
from tether.approvals._tables import approval_request, approval_vote
from tether.audit import AuditEvent, EventType
from tether.audit._canonical import canonical_json
from tether.calls import ProposedCall, RunState
from tether.db import as_utc, reading, write_transaction
from tether.errors import ToolArgumentsError
from tether.gate import Deny, Gate, NeedsApproval, evaluate
from tether.policy import Policy
from tether.tools import Tool


class EventSink(Protocol):
    """Where approval events go: the audit trail."""

    def append(self, event: AuditEvent) -> Any: ...


class Notifier(Protocol):
    """Tells approvers a request waits for them (email, webhook)."""

    def notify(self, request: ApprovalRequest, recipients: Sequence[str]) -> None: ...


@dataclasses.dataclass(frozen=True)
class _Edit:
    """Edited arguments that passed the gate's checks, and the request they edit."""

    args: dict[str, Any]
    before: ApprovalRequest


def _utc_or_none(value: _dt.datetime | None) -> _dt.datetime | None:
    return None if value is None else as_utc(value)


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
        self.audit = audit
        self.notifiers = list(notifiers)
        self.clock = clock
        self.run_state = run_state or (lambda run_id: RunState(id=run_id))
        """What the gate knows of a run (taint, known contacts), to check an edit with."""

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
        existing = self.for_call(call.run.id, call.call_id)
        if existing is not None:
            return existing
        now = self.clock()
        tool = self.gate.policy.tools.get(call.tool)
        args = tool.args_model.model_validate(dict(call.args)).model_dump(mode="json")
        shown = self.gate.redactor_for(tool, args).redact(args).value
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
            "preview": preview or _preview(tool, args, fallback=_render_args(call.tool, shown)),
            "why": call.why,
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
        }
        with self.engine.begin() as conn:
            conn.execute(approval_request.insert().values(**row))
        request = self.get(row["id"])
        self._record("approval.requested", request, call=call)
        self._notify(request, request.approvers)
        return request

    # --- reading ----------------------------------------------------------------

    def get(self, request_id: str) -> ApprovalRequest:
        with reading(self.engine) as conn:
            return self._load(conn, request_id)

    def for_call(self, run_id: str, call_id: str) -> ApprovalRequest | None:
        """The request made for this call of this run, if any."""
        with reading(self.engine) as conn:
            return self._find_one(conn, _OF_CALLS, _of_calls(run_id, call_id))

    def find(
        self,
        *,
        status: Status | None = "pending",
        agent: str | None = None,
        run_id: str | None = None,
    ) -> list[ApprovalRequest]:
        query = sa.select(approval_request).order_by(approval_request.c.created_at)
        if status is not None:
            query = query.where(approval_request.c.status == status)
        if agent is not None:
            query = query.where(approval_request.c.agent == agent)
        if run_id is not None:
            query = query.where(approval_request.c.run_id == run_id)
        with reading(self.engine) as conn:
            return self._find(conn, query, {})

    def _pending_where(self, *conditions: Any) -> list[ApprovalRequest]:
        """Pending requests that meet ``conditions``, chosen by the database (a sweep
        reads the few that are due, not every request waiting)."""
        query = sa.select(approval_request).where(
            approval_request.c.status == "pending", *conditions
        )
        with reading(self.engine) as conn:
            return self._find(conn, query.order_by(approval_request.c.created_at), {})

    def for_approver(self, user: str) -> list[ApprovalRequest]:
        """Pending requests this user may decide."""
        now = self.clock()
        return [
            request
            for request in self.find()
            if user != request.requested_by
            and user in self.policy.users_holding(request.eligible_refs(now))
        ]

    # --- deciding ---------------------------------------------------------------

    def approve(
        self,
        request_id: str,
        *,
        by: str,
        edit: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> ApprovalRequest:
        """Approve, optionally with edited arguments (checked by the gate again)."""
        return self._vote(request_id, by=by, verdict="approve", edit=edit, comment=comment)

    def reject(self, request_id: str, *, by: str, comment: str) -> ApprovalRequest:
        """Reject with a comment; the agent is told, and may re-plan."""
        if not comment or not comment.strip():
            raise EditRefused(request_id, "a rejection needs a comment saying why")
        return self._vote(request_id, by=by, verdict="reject", edit=None, comment=comment)

    def _vote(
        self,
        request_id: str,
        *,
        by: str,
        verdict: Verdict,
        edit: dict[str, Any] | None,
        comment: str | None,
    ) -> ApprovalRequest:
        # An edit is checked, and its limits settled, before the vote's transaction:
        # the limits take a lock of their own.
        edited: _Edit | None = None
        try:
            if edit is not None:
                before = self.get(request_id)
                self._open_request(before)
                self._check_approver(before, by)
                edited = self._checked_edit(before, edit)
            updated = self._cast(request_id, by=by, verdict=verdict, edited=edited, comment=comment)
        except ApprovalError as refusal:
            if edited is not None:  # the edit's limits were settled: give the old ones back
                self._resettle(edited.before)
            if isinstance(refusal, ApprovalExpired):
                self._expire(request_id)
            self._record_refusal(request_id, by, refusal)
            raise
        if updated.status == "rejected":
            self._release_limits(updated)
        self._record(
            "approval.decided",
            updated,
            by=by,
            verdict=verdict,
            comment=comment,
            edited_args=self._shown(updated.tool, edited.args) if edited else None,
        )
        return updated

    def _cast(
        self,
        request_id: str,
        *,
        by: str,
        verdict: Verdict,
        edited: _Edit | None,
        comment: str | None,
    ) -> ApprovalRequest:
        """Store the vote and, when it settles the request, its status (one transaction)."""
        with write_transaction(self.engine, f"approval:{request_id}") as conn:
            request = self._open(conn, request_id)
            self._check_approver(request, by)
            if edited is not None and request.args_hash != edited.before.args_hash:
                raise ApprovalClosed(request_id, "another approver changed the arguments meanwhile")
            new_args = edited.args if edited is not None else None
            current_hash = args_hash(new_args) if new_args is not None else request.args_hash
            if verdict == "approve" and by in request.approvals and new_args is None:
                raise DuplicateVote(request_id, f"{by} has already approved this request")
            vote = Vote(
                approver=by,
                verdict=verdict,
                args_hash=current_hash,
                edited_args=new_args,
                comment=comment,
                at=self.clock(),
            )
            conn.execute(_INSERT_VOTE, {"request_id": request_id, **vars(vote)})
            # What the request now is, without reading it back: the vote added to it, and
            # the new arguments, the status and the time it was settled, as written.
            changes: dict[str, Any] = {}
            if new_args is not None:
                shown = self._shown(request.tool, new_args)
                changes.update(
                    args=new_args,
                    args_hash=current_hash,
                    shown_args=shown,
                    preview=_render_args(request.tool, shown),
                )
            updated = dataclasses.replace(request, votes=(*request.votes, vote), **changes)
            status = self._settled_status(updated, verdict)
            if status != "pending":
                changes.update(status=status, decided_at=self.clock(), comment=comment)
            if changes:
                conn.execute(_UPDATE_REQUEST, {"w_id": request_id, **changes})
            return dataclasses.replace(updated, **changes)

    def _settled_status(self, request: ApprovalRequest, verdict: Verdict) -> Status:
        if verdict == "reject":
            return "rejected"
        return "approved" if len(set(request.approvals)) >= request.quorum else "pending"

    def _open(self, conn: Connection, request_id: str) -> ApprovalRequest:
        return self._open_request(self._load(conn, request_id))

    def _open_request(self, request: ApprovalRequest) -> ApprovalRequest:
        if request.status != "pending":
            raise ApprovalClosed(request.id, f"the request is already {request.status}")
        if self.clock() >= request.expires_at:
            raise ApprovalExpired(
                request.id, f"the request expired at {request.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        return request

    def _check_approver(self, request: ApprovalRequest, user: str) -> None:
        if self.policy.principal(user) is None:
            raise NotAnApprover(request.id, f"{user!r} is not a user of the policy")
        if user == request.requested_by:
            raise SelfApproval(request.id, f"{user} asked for this action and cannot approve it")
        refs = request.eligible_refs(self.clock())
        if user not in self.policy.users_holding(refs):
            raise NotAnApprover(
                request.id,
                f"{user} is not an approver for {request.rule} (needs {', '.join(refs)})",
            )

    def _checked_edit(self, request: ApprovalRequest, edit: dict[str, Any]) -> _Edit:
        """The edited arguments, if the gate would let the edited call through: valid,
        allowed by the policy for this run (its taint, its known contacts), and within
        the limits, which are settled again for the edited call."""
        tool = self.policy.tools.get(request.tool)
        merged = {**request.args, **edit}
        try:
            args = tool.validate_args(merged)
        except ToolArgumentsError as exc:
            raise EditRefused(request.id, exc.message) from None
        call = self._call(request, args)
        evaluation = evaluate(self.policy, self.gate.locate(call))
        if isinstance(evaluation.decision, Deny):
            raise EditRefused(
                request.id,
                "the edited call is refused by the policy: "
                + "; ".join(evaluation.decision.reasons),
            )
        breaches = self.gate.ledger.resettle(evaluation.claims, call_id=call.idempotency_key)
        enforced = [b for b in breaches if not b.claim.limit.shadow]
        if enforced:
            raise EditRefused(
                request.id,
                "the edited call is over a limit: " + "; ".join(b.message for b in enforced),
            )
        return _Edit(
            args=tool.args_model.model_validate(args).model_dump(mode="json"), before=request
        )

    def _call(self, request: ApprovalRequest, args: Mapping[str, Any]) -> ProposedCall:
        principal = self.policy.principal(request.requested_by)
        if principal is None:
            raise EditRefused(
                request.id, f"the requester {request.requested_by!r} is no longer a user"
            )
        return ProposedCall(
            tool=request.tool,
            args=args,
            agent=request.agent,
            principal=principal,
            run=self.run_state(request.run_id),
            call_id=request.call_id,
        )

    def _resettle(self, request: ApprovalRequest) -> None:
        """Claim the limits of the request's arguments again (an edit did not go through)."""
        try:
            call = self._call(request, request.args)
        except EditRefused:
            return
        claims = evaluate(self.policy, self.gate.locate(call)).claims
        self.gate.ledger.resettle(claims, call_id=call.idempotency_key)

    def _release_limits(self, request: ApprovalRequest) -> None:
        """A call that will not run gives back what it claimed of its limits."""
        self.gate.ledger.release(f"{request.run_id}:{request.call_id}")

    # --- execution, expiry, escalation, cancellation -------------------------------

    def claim(self, request_id: str) -> ApprovalRequest:
        """Take an approved request for execution: once, and only as approved.

        Checked again here: the request is approved, its arguments still hash to
        what was approved, and the policy is the version that required approval.
        """
        with self.engine.begin() as conn:
            return self._claim(conn, self._load(conn, request_id))

    def claim_call(
        self, run_id: str, call_id: str, *, conn: Connection | None = None
    ) -> ApprovalRequest | None:
        """:meth:`claim` the request made for this call of this run (None: there is
        none); a request this call already claimed (a step run again after a crash)
        is returned as it is. In ``conn``'s transaction when given."""
        if conn is None:
            with self.engine.begin() as own:
                return self.claim_call(run_id, call_id, conn=own)
        request = self._find_one(conn, _OF_CALLS, _of_calls(run_id, call_id))
        if request is None or request.status == "executed":
            return request
        return self._claim(conn, request)

    def _claim(self, conn: Connection, request: ApprovalRequest) -> ApprovalRequest:
        if request.status != "approved":
            raise ApprovalClosed(request.id, f"the request is {request.status}, not approved")
        if args_hash(request.args) != request.args_hash:
            raise ApprovalInvalid(request.id, "the arguments changed after approval")
        if request.policy_version != self.policy.version:
            raise ApprovalInvalid(
                request.id,
                f"the policy changed since approval ({request.policy_version} → "
                f"{self.policy.version}); ask again",
            )
        # Only while still approved: of two claims at once, one wins (no lock needed).
        claimed = conn.execute(_CLAIM, {"w_id": request.id})
        if not claimed.rowcount:
            raise ApprovalClosed(request.id, "the request was claimed or closed meanwhile")
        return dataclasses.replace(request, status="executed")

    def decided_calls(
        self, run_id: str, call_ids: Sequence[str]
    ) -> dict[str, ApprovalRequest] | None:
        """The requests of these calls of a run, by call id, once all are decided (None
        while one is still pending, or has no request)."""
        if not call_ids:
            return {}
        with reading(self.engine) as conn:
            found = self._find(conn, _OF_CALLS, _of_calls(run_id, *call_ids))
        by_call = {request.call_id: request for request in found}
        if set(by_call) != set(call_ids) or any(r.status == "pending" for r in found):
            return None
        return by_call

    def expire_due(self) -> list[ApprovalRequest]:
        """Expire every pending request past its expiry; returns them."""
        due = self._pending_where(approval_request.c.expires_at <= self.clock())
        return [expired for request in due if (expired := self._expire(request.id))]

    def _expire(self, request_id: str) -> ApprovalRequest | None:
        """Mark a pending request expired (rejected by default) and record it."""
        with self.engine.begin() as conn:
            result = conn.execute(
                approval_request.update()
                .where(approval_request.c.id == request_id, approval_request.c.status == "pending")
                .values(status="expired", decided_at=self.clock())
            )
        if not result.rowcount:
            return None
        expired = self.get(request_id)
        self._release_limits(expired)
        self._record("approval.decided", expired, verdict="expired")
        return expired

    def escalate_due(self) -> list[ApprovalRequest]:
        """Notify escalation roles of requests whose escalation time has come."""
        escalated = []
        for request in self._pending_where(
            approval_request.c.escalate_at <= self.clock(),
            approval_request.c.escalated.is_(False),
        ):
            with self.engine.begin() as conn:
                result = conn.execute(
                    approval_request.update()
                    .where(
                        approval_request.c.id == request.id, approval_request.c.escalated.is_(False)
                    )
                    .values(escalated=True)
                )
            if result.rowcount:
                escalated.append(dataclasses.replace(request, escalated=True))
                self._notify(request, request.escalate_to)
        return escalated

    def cancel(
        self, *, run_id: str | None = None, agent: str | None = None, reason: str = "cancelled"
    ) -> list[ApprovalRequest]:
        """Cancel pending requests of a run, of an agent, or (neither given) all of them."""
        cancelled = []
        for request in self.find(run_id=run_id, agent=agent):
            with self.engine.begin() as conn:
                result = conn.execute(
                    approval_request.update()
                    .where(
                        approval_request.c.id == request.id, approval_request.c.status == "pending"
                    )
                    .values(status="cancelled", decided_at=self.clock(), comment=reason)
                )
            if result.rowcount:
                cancelled.append(dataclasses.replace(request, status="cancelled", comment=reason))
                self._release_limits(request)
                self._record("approval.decided", cancelled[-1], verdict="cancelled", comment=reason)
        return cancelled

    # --- helpers --------------------------------------------------------------------

    def _shown(self, tool_name: str, args: dict[str, Any] | None) -> dict[str, Any]:
        if args is None:
            return {}
        tool = self.policy.tools.get(tool_name)
        shown: dict[str, Any] = self.gate.redactor_for(tool, args).redact(args).value
        return shown

    def _load(self, conn: Connection, request_id: str) -> ApprovalRequest:
        request = self._find_one(conn, _BY_ID, {"id": request_id})
        if request is None:
            raise ApprovalNotFound(request_id, "no such approval request")
        return request

    def _find_one(
        self, conn: Connection, query: sa.Select[Any], params: dict[str, Any]
    ) -> ApprovalRequest | None:
        found = self._find(conn, query, params)
        return found[0] if found else None

    def _find(
        self, conn: Connection, query: sa.Select[Any], params: dict[str, Any]
    ) -> list[ApprovalRequest]:
        """The requests ``query`` selects, with their votes: two queries however many."""
        rows = conn.execute(query, params).mappings().all()
        if not rows:
            return []
        votes: dict[str, list[Any]] = {row["id"]: [] for row in rows}
        ids = list(votes)
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            for vote in conn.execute(_VOTES, {"ids": chunk}).mappings():
                votes[vote["request_id"]].append(vote)
        return [_request(row, votes[row["id"]]) for row in rows]

    def _notify(self, request: ApprovalRequest, refs: Sequence[str]) -> None:
        recipients = sorted(self.policy.users_holding(tuple(refs)) - {request.requested_by})
        for notifier in self.notifiers:
            notifier.notify(request, recipients)

    def _record(
        self,
        kind: EventType,
        request: ApprovalRequest,
        *,
        call: ProposedCall | None = None,
        by: str | None = None,
        verdict: str | None = None,
        comment: str | None = None,
        edited_args: dict[str, Any] | None = None,
    ) -> None:
        if self.audit is None:
            return
        approval: dict[str, Any] = {
            "request_id": request.id,
            "rule": request.rule,
            "approvers": list(request.approvers),
            "quorum": request.quorum,
            "expires_at": request.expires_at.isoformat(),
            "status": request.status,
            "approved_by": list(request.approvals),
        }
        for key, value in (
            ("verdict", verdict),
            ("by", by),
            ("comment", comment),
            ("edited_args", edited_args),
        ):
            if value is not None:
                approval[key] = value
        self.audit.append(
            AuditEvent(
                type=kind,
                run_id=request.run_id,
                call_id=request.call_id,
                agent=request.agent,
                principal=request.requested_by,
                tool=request.tool,
                args=request.shown_args,
                why=request.why,
                approval=approval,
            )
        )

    def _record_refusal(self, request_id: str, by: str, refusal: ApprovalError) -> None:
        self.record_refusal(request_id, by=by, reason=refusal.reason, message=refusal.message)

    def record_refusal(
        self,
        request_id: str,
        *,
        by: str,
        reason: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an attempt to decide ``request_id`` that was refused (``approval.refused``):
        by these rules, or by a front end (the console: a bad CSRF token, a stale form)."""
        if self.audit is None:
            return
        try:
            request: ApprovalRequest | None = self.get(request_id)
        except ApprovalNotFound:
            request = None
        self.audit.append(
            AuditEvent(
                type="approval.refused",
                run_id=request.run_id if request else "-",
                call_id=request.call_id if request else None,
                agent=request.agent if request else None,
                principal=request.requested_by if request else None,
                tool=request.tool if request else None,
                approval={
                    "request_id": request_id,
                    "by": by,
                    "refusal": reason,
                    "message": message,
                },
                details=details,
            )
        )


def _preview(tool: Tool, args: dict[str, Any], *, fallback: str) -> str:
    """The tool's own dry run as text, else the arguments rendered readably."""
    if tool.preview is None:
        return fallback
    try:
        result = tool.preview(**tool.validate_args(args))
    except Exception as exc:  # the approver still sees exactly what would run
        return f"(the tool's preview failed: {type(exc).__name__}: {exc})\n{fallback}"
    return result if isinstance(result, str) else canonical_json(result)


def _render_args(tool: str, args: dict[str, Any]) -> str:
    lines = [f"{tool}("]
    lines += [f"  {key} = {value!r}" for key, value in args.items()]
    lines.append(")")
    return "\n".join(lines)


def _request(row: Any, votes: Sequence[Any]) -> ApprovalRequest:
    return ApprovalRequest(
        id=row["id"],
        run_id=row["run_id"],
        call_id=row["call_id"],
        agent=row["agent"],
        requested_by=row["requested_by"],
        tool=row["tool"],
        args=row["args"],
        args_hash=row["args_hash"],
        shown_args=row["shown_args"],
        preview=row["preview"],
        why=row["why"],
        rule=row["rule"],
        reason=row["reason"],
        approvers=tuple(row["approvers"]),
        quorum=row["quorum"],
        policy_version=row["policy_version"],
        status=row["status"],
        created_at=as_utc(row["created_at"]),
        expires_at=as_utc(row["expires_at"]),
        escalate_at=_utc_or_none(row["escalate_at"]),
        escalate_to=tuple(row["escalate_to"]),
        escalated=bool(row["escalated"]),
        decided_at=_utc_or_none(row["decided_at"]),
        comment=row["comment"],
        votes=tuple(
            Vote(
                approver=v["approver"],
                verdict=v["verdict"],
                args_hash=v["args_hash"],
                edited_args=v["edited_args"],
                comment=v["comment"],
                at=as_utc(v["at"]),
            )
            for v in votes
        ),
    )


# Built once: a statement built per call costs more Python than the database's work.
_BY_ID = sa.select(approval_request).where(approval_request.c.id == sa.bindparam("id"))
_OF_CALLS = sa.select(approval_request).where(
    approval_request.c.run_id == sa.bindparam("run_id"),
    approval_request.c.call_id.in_(sa.bindparam("call_ids", expanding=True)),
)
"""The requests made for some calls of a run."""
_INSERT_VOTE = approval_vote.insert()
_UPDATE_REQUEST = approval_request.update().where(approval_request.c.id == sa.bindparam("w_id"))
"""A request's update; the values are the parameters other than ``w_id``."""
_CLAIM = _UPDATE_REQUEST.where(approval_request.c.status == "approved").values(status="executed")
_VOTES = (
    sa.select(approval_vote)
    .where(approval_vote.c.request_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(approval_vote.c.id)
)


_IDS_PER_QUERY = 5000
"""Request ids per query for their votes (SQLite caps a statement's parameters)."""


def _of_calls(run_id: str, *call_ids: str) -> dict[str, Any]:
    return {"run_id": run_id, "call_ids": list(call_ids)}
