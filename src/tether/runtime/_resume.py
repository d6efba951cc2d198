"""Resuming a parked run once people have decided every call it waits on.

A parked run holds no workflow: it is its row (history, the calls it waits on). When
the last of its requests is decided, the run is queued for its next segment with the
decisions (Pydantic AI ``DeferredToolResults``) and its segment started: at once in
the deciding process when it runs segments and has room, else by a woken worker or
the queue (:meth:`~._dbos.Durability.start`).
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import TypeAdapter
from pydantic_ai import DeferredToolResults, ToolApproved, ToolDenied
from sqlalchemy.engine import Engine

from tether.approvals import ApprovalRequest, Approvals, pending_runs_query
from tether.db import reading
from tether.runtime._dbos import Durability
from tether.runtime._store import RunStore
from tether.runtime._tables import run as run_table

DEFERRED_RESULTS = TypeAdapter(DeferredToolResults)


class Resumer:
    """Queues a parked run's next segment once its calls are decided."""

    def __init__(
        self, *, engine: Engine, store: RunStore, approvals: Approvals, durability: Durability
    ) -> None:
        self.engine = engine
        self.store = store
        self.approvals = approvals
        self.durability = durability

    def resume_if_ready(self, run_id: str, *, just_decided: ApprovalRequest | None = None) -> bool:
        """Queue the next segment once every call the run waits on has been decided.

        ``just_decided``: a request as its decision left it; when it is the only call
        the run waits on, the requests need not be read again.
        """
        parked = self.store.parked(run_id)
        if parked is None:
            return False
        segment, pending, state_version = parked
        waiting = [part["tool_call_id"] for part in pending.get("approvals", [])]
        decided: dict[str, ApprovalRequest] | None
        if just_decided is not None and waiting == [just_decided.call_id]:
            pending_still = just_decided.status == "pending"  # a quorum still to reach
            decided = None if pending_still else {just_decided.call_id: just_decided}
        else:
            decided = self.approvals.decided_calls(run_id, waiting)
        if decided is None:
            return False
        approvals = {call_id: result_for(decided[call_id]) for call_id in waiting}
        results = DEFERRED_RESULTS.dump_python(
            DeferredToolResults(approvals=approvals), mode="json"
        )
        if not self.store.update(
            run_id,
            only_if=("waiting_approval",),
            in_segment=segment,
            status="queued",
            segment=segment + 1,
            results=results,
            pending=None,
        ):
            return False
        self.durability.start(run_id, segment + 1, state_version=state_version)
        return True

    def decided_waiting_runs(self) -> list[str]:
        """Runs waiting for approval none of whose requests is still pending."""
        # NOT IN, not a correlated NOT EXISTS: SQLite would answer that with the
        # requests' status index once per run (10,000 parked runs: 11 s a sweep).
        waiting = sa.select(run_table.c.id).where(
            run_table.c.status == "waiting_approval", run_table.c.id.not_in(pending_runs_query())
        )
        with reading(self.engine) as conn:
            return list(conn.execute(waiting).scalars())


def result_for(request: ApprovalRequest) -> bool | ToolApproved | ToolDenied:
    """What the model is told of a decided request when its run resumes."""
    if request.status in ("approved", "executed"):
        return ToolApproved(override_args=request.args) if request.edited else True
    if request.status == "rejected":
        why = f": {request.comment}" if request.comment else ""
        return ToolDenied(f"A person rejected this action{why}. Do not try it again as is.")
    if request.status == "expired":
        return ToolDenied("Nobody approved this action in time; it was not done.")
    return ToolDenied(f"This action was {request.status}; it was not done.")
