"""The model's responses in a segment, kept in tether's effect ledger, not as DBOS steps.

    model request ──► Journal.replayed: recorded in this segment before? that response
                  └─► else the model; Journal.keep: held until the next ledger write
    the call path's next write (a call noted refused, held, started, or a read done)
                  ──► Journal.write(conn): the responses held, in the same transaction

A model's response is the one nondeterministic input of a segment: a segment replayed
after a crash must be given the responses the first execution acted on. Durable
protocol 2 checkpointed each as a DBOS step (two transactions per request). Protocol 3
writes a response with the first thing that depends on it, its first call's row in
the ledger, in that row's transaction: a response is durable exactly when something
done because of it is. One lost with a crash had led to nothing durable, and the
replay asks the model again, as it would have had the crash come before DBOS's
checkpoint. When the agent's grants claim limits, which the gate settles in a
transaction of its own before the call's row, the responses are written first
(:meth:`CallPath.decide`), so a replayed call claims under the same call id.

Each response is a ledger row of the reserved tool :data:`MODEL_RESPONSE`, keyed by
run, segment and the request's place in the segment. A second execution of the same
segment (a worker taken for dead that was not) finds its place taken when it writes:
like DBOS for a step, it stops (:meth:`Journal.check`), and the first one goes on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.runtime._tables import NOTE_ONCE, effect

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelResponse

MODEL_RESPONSE = "tether.model_response"
"""The ledger's tool name for a model's response (no policy tool is named so)."""


@cache
def _responses() -> Any:
    """Pydantic AI's adapter for a response, made when a segment first needs it: the
    store imports this module, and a process that only reads and decides (``tether
    approvals list``) loads no Pydantic AI."""
    from pydantic import TypeAdapter
    from pydantic_ai.messages import ModelResponse

    return TypeAdapter(ModelResponse)


def _dbos_errors() -> Any:
    from dbos import error  # only a segment that must stop needs DBOS's errors

    return error


def response_call_id(segment: int, index: int) -> str:
    """The ledger's call id of the ``index``-th model response of ``segment``."""
    return f"seg-{segment}/model-{index}"


def response_key(run_id: str, segment: int, index: int) -> str:
    """The ledger's key of a response: a call's key is ``RUN:CALL``, never ``RUN/...``."""
    return f"{run_id}/{response_call_id(segment, index)}"


@dataclass(eq=False, kw_only=True)
class Journal:
    """One execution of a segment's model responses: those recorded, those held."""

    run_id: str
    segment: int
    workflow_id: str
    """The segment's DBOS workflow, named when this execution must stop."""
    recorded: list[str] | None = None
    """The responses recorded in this segment before (JSON, in order); None until read."""
    taken: int = 0
    """How many model requests this execution made so far."""
    held: list[tuple[int, str]] = field(default_factory=list)
    """Responses not yet written, by their place in the segment."""
    lost: bool = False
    """Another execution of this segment wrote a response first: this one must stop."""
    halted: bool = False
    """The run was cancelled or stopped while this execution ran."""

    def replayed(self) -> ModelResponse | None:
        """The recorded response to this request, or None when the model is to answer."""
        recorded = self.recorded or []
        if self.taken >= len(recorded):
            return None
        found: ModelResponse = _responses().validate_json(recorded[self.taken])
        self.taken += 1
        return found

    def keep(self, response: ModelResponse) -> None:
        """Hold a new response for the next write of the ledger."""
        self.held.append((self.taken, _responses().dump_json(response).decode()))
        self.taken += 1

    def write(self, conn: Connection) -> bool:
        """Write the responses held, in ``conn``'s transaction; False (and nothing more
        is to be written) when another execution of this segment wrote one first."""
        if self.lost:
            return False
        if not self.held:
            return True
        if not record_responses(conn, self.run_id, self.segment, self.held):
            self.lost = True
            return False
        self.held = []
        return True

    def still_running(self, status: str, segment: int) -> None:
        """Stop this execution unless its run is still running in its segment.

        DBOS tells a segment it was cancelled at its next step; a segment of protocol 3
        takes none, so each call's read of the run tells it instead. Cancelled: it stops
        before the call. Stopped (the stop switch): the call is refused and recorded,
        then it stops. Ended or moved on by another execution: it stops."""
        if status == "cancelled":
            self.halted = True
            self.check()
        if status == "stopped":
            self.halted = True
        elif status != "running" or segment != self.segment:
            self.lost = True
            self.check()

    def check(self) -> None:
        """Stop this execution when its run was cancelled or stopped, or another
        execution of the segment got ahead of it."""
        if self.halted:
            raise _dbos_errors().DBOSWorkflowCancelledError(
                f"workflow {self.workflow_id} was cancelled: its run was stopped or cancelled"
            )
        if self.lost:
            raise _dbos_errors().DBOSWorkflowConflictIDError(self.workflow_id)


CURRENT: ContextVar[Journal | None] = ContextVar("tether_journal", default=None)
"""The journal of the segment executing in this context (threads started with
``asyncio.to_thread`` see it too); None outside a segment (the gateway's calls).

Read it where a write is prepared, not inside the write: appends from several
threads share one transaction, written by whichever of them leads it."""


def current() -> Journal | None:
    return CURRENT.get()


def recorded_responses(conn: Connection, run_id: str, segment: int) -> list[str]:
    """The responses recorded in ``segment`` of a run, in order (JSON)."""
    prefix = response_call_id(segment, 0)[: -len("0")]
    rows = conn.execute(_RESPONSES, {"run_id": run_id, "prefix": prefix + "%"})
    found = {int(call_id[len(prefix) :]): text for call_id, text in rows}
    ordered: list[str] = []
    while len(ordered) in found:  # a replay follows the responses in order, no gaps
        ordered.append(found[len(ordered)])
    return ordered


def record_responses(
    conn: Connection, run_id: str, segment: int, responses: Sequence[tuple[int, str]]
) -> bool:
    """Write responses in ``conn``'s transaction; False when one of their places was
    taken (by another execution of the segment: then nothing more is written)."""
    now = _dt.datetime.now(_dt.UTC)
    for index, text in responses:  # a place already taken is another execution's
        written = NOTE_ONCE.execute(
            conn,
            {
                "idempotency_key": response_key(run_id, segment, index),
                "run_id": run_id,
                "call_id": response_call_id(segment, index),
                "tool": MODEL_RESPONSE,
                "args": {},
                "status": "done",
                "result": None,
                "model_text": text,
                "attempts": 1,
                "started_at": now,
                "finished_at": now,
            },
        )
        if not written.rowcount:
            return False
    return True


_RESPONSES = sa.select(effect.c.call_id, effect.c.model_text).where(
    effect.c.run_id == sa.bindparam("run_id"),
    effect.c.tool == MODEL_RESPONSE,
    effect.c.call_id.like(sa.bindparam("prefix")),
)

