"""What tether stores of a run and of each call it decided, and the names of their states."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from tether.db import as_utc
from tether.errors import TetherError

RunStatus = Literal[
    "queued", "running", "waiting_approval", "completed", "failed", "stopped", "cancelled"
]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
FINISHED: frozenset[str] = frozenset({"completed", "failed", "stopped", "cancelled"})
SETTLED: frozenset[str] = FINISHED | {"waiting_approval"}
"""A run in one of these no longer moves by itself: its waiters are told."""


class RunNotFound(TetherError):
    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"no run {self.run_id!r}; `tether runs list` shows the runs"


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """A run as stored: what it was asked, for whom, and where it stands."""

    id: str
    agent: str
    agent_version: str
    principal: str
    task: str
    model: str | None
    """The model this run uses, when not the agent's own."""
    status: RunStatus
    segment: int
    """How many times the run has been started or resumed."""
    history: str | None
    """The model's messages so far (Pydantic AI JSON)."""
    pending: dict[str, Any] | None
    """The calls waiting for approval (Pydantic AI DeferredToolRequests)."""
    results: dict[str, Any] | None
    """The decisions to resume with (Pydantic AI DeferredToolResults)."""
    output: str | None
    error: str | None
    untrusted: bool
    known_contacts: tuple[str, ...]
    usage: dict[str, Any] | None
    created_at: _dt.datetime
    updated_at: _dt.datetime
    state_version: int = 1
    """The version of the durable protocol that wrote the run's state."""
    provenance: dict[str, list[str]] = field(default_factory=dict)
    """Where each identifier the run met was vouched for or seen."""

    @property
    def approval_request_ids(self) -> tuple[str, ...]:
        """The approval requests a parked run waits on, in the order it proposed them."""
        if not self.pending:
            return ()
        metadata = self.pending.get("metadata") or {}
        found = (
            (metadata.get(part.get("tool_call_id")) or {}).get("request_id")
            for part in self.pending.get("approvals", [])
        )
        return tuple(request_id for request_id in found if isinstance(request_id, str))

    def summary(self) -> dict[str, Any]:
        """The run as JSON without its history: what ``tether runs list --json`` and the
        console's API show."""
        return {
            "id": self.id,
            "agent": self.agent,
            "principal": self.principal,
            "status": self.status,
            "task": self.task,
            "output": self.output,
            "error": self.error,
            "segment": self.segment,
            "approval_requests": list(self.approval_request_ids),
            "untrusted": self.untrusted,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


CallStatus = Literal["started", "done", "failed", "refused", "held"]
"""A call in the ledger: executing (``started``), executed (``done``, ``failed``),
refused by the gate (``refused``), or held for people (``held``)."""


@dataclass(frozen=True, kw_only=True)
class EffectRecord:
    """One decided call in the ledger: what it did, or why it did not run."""

    idempotency_key: str
    run_id: str
    call_id: str
    tool: str
    args: dict[str, Any]
    status: CallStatus
    result: Any
    model_text: str | None
    attempts: int
    reversed_by: str | None
    finished_at: _dt.datetime | None = None
    """When it was executed, failed or refused (None while it runs or is held)."""


def run_record(row: Any) -> RunRecord:
    return RunRecord(
        id=row["id"],
        agent=row["agent"],
        agent_version=row["agent_version"],
        principal=row["principal"],
        task=row["task"],
        model=row["model"],
        status=row["status"],
        segment=row["segment"],
        history=row["history"],
        pending=row["pending"],
        results=row["results"],
        output=row["output"],
        error=row["error"],
        untrusted=bool(row["untrusted"]),
        known_contacts=tuple(row["known_contacts"]),
        usage=row["usage"],
        state_version=row["state_version"],
        provenance=dict(row["provenance"] or {}),
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )


def effect_record(row: Any) -> EffectRecord:
    return EffectRecord(
        idempotency_key=row["idempotency_key"],
        run_id=row["run_id"],
        call_id=row["call_id"],
        tool=row["tool"],
        args=row["args"],
        status=row["status"],
        result=row["result"],
        model_text=row["model_text"],
        attempts=row["attempts"],
        reversed_by=row["reversed_by"],
        finished_at=as_utc(row["finished_at"]) if row.get("finished_at") else None,
    )
