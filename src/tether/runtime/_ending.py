"""Ending a run, recorded: its end and its audit event in one transaction, or neither."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from tether.audit import AuditEvent, AuditLog, EventType
from tether.runtime._handle import Watch
from tether.runtime._records import RunRecord, RunStatus
from tether.runtime._store import RunStore

UNFINISHED: tuple[RunStatus, ...] = ("queued", "running", "waiting_approval")


class Endings:
    """Ends runs: from their segment (completed, failed, stopped) or by an operator."""

    def __init__(self, store: RunStore, audit: AuditLog, *, watch: Watch) -> None:
        self.store = store
        self.audit = audit
        self.watch = watch

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        output: str | None = None,
        error: str | None = None,
        history: str | None = None,
        usage: dict[str, Any] | None = None,
        segment: int | None = None,
        record: RunRecord | None = None,
        details: dict[str, Any] | None = None,
        actor: dict[str, Any] | None = None,
    ) -> str:
        """End a run, recorded: the event and the run's end in one transaction, or
        neither when the run had already ended or gone on to another segment.

        ``record``: the run as the caller has it; ``segment``: end it only while it is
        in that segment; ``details``: more for the event; ``actor``: who ended it.
        Returns the run's status afterwards.
        """
        if record is None:
            record = self.store.get(run_id)
            if record.status not in UNFINISHED:
                return record.status
        values: dict[str, Any] = {
            "status": status,
            "output": output,
            "error": error,
            "pending": None,
            "results": None,
        }
        if history is not None:
            values["history"] = history
        if usage is not None:
            values["usage"] = usage
        kind: EventType = "run.stopped" if status in ("stopped", "cancelled") else "run.finished"
        body: dict[str, Any] = {"status": status}
        if output:
            body["output"] = output
        event = AuditEvent(
            type=kind,
            run_id=run_id,
            agent=record.agent,
            agent_version=record.agent_version,
            principal=record.principal,
            error=error,
            details={**body, **(details or {})},
            actor=actor,
        )

        def end(conn: Connection) -> bool:
            return self.store.update(
                run_id, only_if=UNFINISHED, in_segment=segment, conn=conn, **values
            )

        if not self.audit.append_many([event], alongside=end):
            return self.store.get(run_id).status
        self.watch.changed(run_id)
        return status
