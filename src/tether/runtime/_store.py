"""Runs, the effect ledger and stop switches, in tether's database."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tether.calls import RunState
from tether.db import Prepared, reading, single_read
from tether.provenance import Identifier, merged
from tether.runtime._journal import MODEL_RESPONSE, recorded_responses
from tether.runtime._records import (
    SETTLED,
    CallStatus,
    EffectRecord,
    RunNotFound,
    RunRecord,
    RunStatus,
    effect_record,
    run_record,
)
from tether.runtime._tables import LEDGER_ROW, NOTE_ONCE, dialect_insert, effect, run, stop

RUNS_CHANNEL = "tether_runs"
"""The PostgreSQL channel runs that stop moving are announced on (see ``_wake``)."""
_ANNOUNCE = sa.text("SELECT pg_notify(:channel, :run_id)")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class RunStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- runs -----------------------------------------------------------------------

    def create(
        self,
        *,
        run_id: str,
        agent: str,
        agent_version: str,
        principal: str,
        task: str,
        model: str | None = None,
        known_contacts: tuple[str, ...] = (),
        provenance: Mapping[str, Sequence[str]] | None = None,
        state_version: int = 1,
        status: RunStatus = "queued",
        conn: Connection | None = None,
    ) -> RunRecord:
        """A new run: ``queued`` for workers, or ``running`` when its calls come from
        outside (a gateway session, which no worker runs). In ``conn``'s transaction
        when given."""
        now = _now()
        created = RunRecord(
            id=run_id,
            agent=agent,
            agent_version=agent_version,
            principal=principal,
            task=task,
            model=model,
            status=status,
            segment=1,
            history=None,
            pending=None,
            results=None,
            output=None,
            error=None,
            untrusted=False,
            known_contacts=tuple(known_contacts),
            usage=None,
            created_at=now,
            updated_at=now,
            state_version=state_version,
            provenance={key: list(sources) for key, sources in (provenance or {}).items()},
        )
        row = {**dataclasses.asdict(created), "known_contacts": list(known_contacts)}
        with self.engine.begin() if conn is None else contextlib.nullcontext(conn) as writing:
            writing.execute(run.insert().values(**row))
        return created

    def exists(self, run_id: str) -> bool:
        """Whether the run is stored (its record is not read)."""
        with single_read(self.engine) as conn:
            return _EXISTS.first(conn, {"w_id": run_id}) is not None

    def get(self, run_id: str) -> RunRecord:
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(run).where(run.c.id == run_id)).mappings().first()
        if row is None:
            raise RunNotFound(run_id)
        return run_record(row)

    def begin_segment(self, run_id: str, segment: int) -> tuple[RunRecord | None, str | None]:
        """Mark the run running in ``segment``, in one transaction with reading why its
        agent is stopped (None when it may act). No run (None) when the run is not
        queued or running in that segment: finished, parked, or gone on to another."""
        record, stopped, _ = self.begin(run_id, segment)
        return record, stopped

    def begin(self, run_id: str, segment: int) -> tuple[RunRecord | None, str | None, list[str]]:
        """:meth:`begin_segment`, and the model's responses recorded in the segment
        before (a segment run again), in the same transaction."""
        with self.engine.begin() as conn:
            row = (
                conn.execute(_BEGIN_SEGMENT, {"w_id": run_id, "w_segment": segment, "now": _now()})
                .mappings()
                .first()
            )
            if row is None:
                return None, None, []
            switch = conn.execute(_SWITCH_QUERY, {"agent": row["agent"]}).first()
            responses = recorded_responses(conn, run_id, segment)
        stopped = None if switch is None else _stopped_reason(*switch)
        return run_record(row), stopped, responses

    def responses(self, run_id: str, segment: int) -> list[str]:
        """The model's responses recorded in a segment of the run (see ``_journal``)."""
        with reading(self.engine) as conn:
            return recorded_responses(conn, run_id, segment)

    def parked(self, run_id: str) -> tuple[int, dict[str, Any], int] | None:
        """The segment a run waiting for approval parked in, the calls it waits on and
        its state's version; None when it is not waiting (its history is not read)."""
        with reading(self.engine) as conn:
            row = conn.execute(_PARKED, {"w_id": run_id}).first()
        if row is None or not row.pending:
            return None
        return row.segment, row.pending, row.state_version

    def run_state(self, run_id: str) -> RunState:
        """What the gate needs to know of a run (two columns, not the whole record)."""
        query = sa.select(run.c.untrusted, run.c.known_contacts, run.c.provenance).where(
            run.c.id == run_id
        )
        with reading(self.engine) as conn:
            row = conn.execute(query).first()
        if row is None:
            raise RunNotFound(run_id)
        return _state(run_id, row[0], row[1], row[2])

    def call_context(
        self, run_id: str, agent: str, *, conn: Connection | None = None
    ) -> tuple[RunState, str | None]:
        """What the gate needs to decide a call of this run, in one read: the run's
        state, and why ``agent`` is stopped (None when it may act). In ``conn``'s
        transaction when given."""
        if conn is None:
            with reading(self.engine) as own:
                return self.call_context(run_id, agent, conn=own)
        state, stopped, _ = self._context(conn, run_id, agent)
        return state, stopped

    def _context(
        self, conn: Connection, run_id: str, agent: str
    ) -> tuple[RunState, str | None, tuple[str, int]]:
        row = conn.execute(_CALL_CONTEXT, {"run_id": run_id, "agent": agent}).first()
        if row is None:
            raise RunNotFound(run_id)
        return _context_of(run_id, row)

    def call_state(
        self, run_id: str, agent: str, *, key: str, conn: Connection | None = None
    ) -> tuple[RunState, str | None, EffectRecord | None, tuple[str, int]]:
        """:meth:`call_context`, the ledger's record of the call with idempotency key
        ``key`` if it was decided before (a step run again after a crash), and where the
        run stands (its status and segment)."""
        if conn is None:
            with single_read(self.engine) as own:
                return self.call_state(run_id, agent, key=key, conn=own)
        row = _CALL_STATE.first(conn, {"run_id": run_id, "agent": agent, "w_key": key})
        if row is None:
            raise RunNotFound(run_id)
        state, stopped, standing = _context_of(run_id, row)
        prior = dict(zip(_EFFECT_COLUMNS, row[_CONTEXT_WIDTH:], strict=True))
        found = None if prior["idempotency_key"] is None else effect_record(prior)
        return state, stopped, found, standing

    def note_call(
        self,
        conn: Connection,
        *,
        key: str,
        run_id: str,
        call_id: str,
        tool: str,
        args: dict[str, Any],
        status: CallStatus,
        model_text: str | None = None,
        result: Any = None,
    ) -> bool:
        """Note a decided call in the ledger, in ``conn``'s transaction, unless it is
        noted already (False: another attempt of the same step got there first)."""
        now = _now()
        inserted = NOTE_ONCE.execute(
            conn,
            {
                "idempotency_key": key,
                "run_id": run_id,
                "call_id": call_id,
                "tool": tool,
                "args": args,
                "status": status,
                "result": result,
                "model_text": model_text,
                "attempts": 1,
                "started_at": now,
                "finished_at": None if status == "started" else now,
            },
        )
        return bool(inserted.rowcount)

    def note_learned(
        self,
        conn: Connection,
        run_id: str,
        *,
        untrusted: bool,
        contacts: Sequence[str] = (),
        provenance: Sequence[tuple[Identifier, str]] = (),
    ) -> None:
        """What a call taught the run, in ``conn``'s transaction (the one that records
        the call's execution, so a crash keeps both or neither): its output tainted
        the run, named people it may now write to, or vouched for or showed values."""
        if not (untrusted or contacts or provenance):
            return
        values: dict[str, Any] = {"updated_at": _now()}
        if untrusted:
            values["untrusted"] = True
        if contacts or provenance:
            known, table = conn.execute(
                sa.select(run.c.known_contacts, run.c.provenance).where(run.c.id == run_id)
            ).one()
            if contacts:
                values["known_contacts"] = sorted(set(known) | set(contacts))
            if provenance:
                values["provenance"] = merged(table or {}, provenance)
        conn.execute(run.update().where(run.c.id == run_id).values(**values))

    def past_calls(self, conn: Connection, run_id: str) -> list[EffectRecord]:
        """The run's calls so far that were not refused: executed, failed, in flight
        or awaiting approval, in the order they were decided."""
        rows = conn.execute(_PAST_CALLS, {"run_id": run_id}).mappings()
        return [effect_record(row) for row in rows]

    def queued(self) -> list[tuple[str, int, int]]:
        """Every queued run's id, the segment it waits to run and its state's version."""
        query = sa.select(run.c.id, run.c.segment, run.c.state_version).where(
            run.c.status == "queued"
        )
        with reading(self.engine) as conn:
            return [(row.id, row.segment, row.state_version) for row in conn.execute(query)]

    def find(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        query = sa.select(run).order_by(run.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(run.c.status == status)
        if agent is not None:
            query = query.where(run.c.agent == agent)
        with reading(self.engine) as conn:
            return [run_record(row) for row in conn.execute(query).mappings()]

    def update(
        self,
        run_id: str,
        *,
        only_if: tuple[str, ...] = (),
        in_segment: int | None = None,
        conn: Connection | None = None,
        **values: Any,
    ) -> bool:
        """Change a run; with ``only_if``, only while its status is one of those; with
        ``in_segment``, only while it is in that segment (a replayed step of an old segment
        must not move a run that has gone on). In ``conn``'s transaction when given.

        A run that stops moving (parks or ends) is announced on PostgreSQL to the
        processes waiting for it (``tether_runs``), in the same transaction."""
        query = _RUN_UPDATES[bool(only_if), in_segment is not None]
        params = {"w_id": run_id, "updated_at": _now(), **values}
        if only_if:
            params["w_statuses"] = list(only_if)
        if in_segment is not None:
            params["w_segment"] = in_segment
        if conn is not None:
            return self._update(conn, query, params, values.get("status"))
        with self.engine.begin() as own:
            return self._update(own, query, params, values.get("status"))

    def _update(
        self, conn: Connection, query: Any, params: dict[str, Any], status: str | None
    ) -> bool:
        changed = bool(conn.execute(query, params).rowcount)
        if changed and status in SETTLED and conn.dialect.name == "postgresql":
            conn.execute(_ANNOUNCE, {"channel": RUNS_CHANNEL, "run_id": params["w_id"]})
        return changed

    # --- the effect ledger ------------------------------------------------------------

    def effect_begin(
        self,
        *,
        key: str,
        run_id: str,
        call_id: str,
        tool: str,
        args: dict[str, Any],
        conn: Connection | None = None,
    ) -> EffectRecord | None:
        """Note that an execution starts; the finished record if one already finished.
        In ``conn``'s transaction when given."""
        if conn is None:
            with self.engine.begin() as own:
                return self.effect_begin(
                    key=key, run_id=run_id, call_id=call_id, tool=tool, args=args, conn=own
                )
        row = conn.execute(_EFFECT, {"w_key": key}).mappings().first()
        if row is None:
            conn.execute(
                _INSERT_EFFECT,
                {
                    "idempotency_key": key,
                    "run_id": run_id,
                    "call_id": call_id,
                    "tool": tool,
                    "args": args,
                    "status": "started",
                    "attempts": 1,
                    "started_at": _now(),
                },
            )
            return None
        if row["status"] == "done":
            return effect_record(row)
        # Held for approval, or cut off: it starts (again) with these arguments (an
        # approver may have edited them).
        conn.execute(
            _UPDATE_EFFECT,
            {
                "w_key": key,
                "attempts": row["attempts"] + (row["status"] != "held"),  # held: not yet run
                "status": "started",
                "args": args,
            },
        )
        return None

    def effect_end(
        self,
        key: str,
        *,
        status: Literal["done", "failed"],
        result: Any,
        model_text: str,
        conn: Connection | None = None,
    ) -> None:
        """An execution finished; in ``conn``'s transaction when given."""
        params = {
            "w_key": key,
            "status": status,
            "result": result,
            "model_text": model_text,
            "finished_at": _now(),
        }
        if conn is not None:
            conn.execute(_UPDATE_EFFECT, params)
            return
        with self.engine.begin() as own:
            own.execute(_UPDATE_EFFECT, params)

    def effect_read(
        self,
        conn: Connection,
        *,
        key: str,
        run_id: str,
        call_id: str,
        tool: str,
        args: dict[str, Any],
        result: Any,
        model_text: str,
    ) -> None:
        """Note a finished read, in ``conn``'s transaction: a read changes nothing, so it
        needs no record before it runs (running it again after a crash is harmless)."""
        now = _now()
        _READ_UPSERT.execute(
            conn,
            {
                "idempotency_key": key,
                "run_id": run_id,
                "call_id": call_id,
                "tool": tool,
                "args": args,
                "status": "done",
                "result": result,
                "model_text": model_text,
                "attempts": 1,
                "started_at": now,  # a read: noted as it finished
                "finished_at": now,
            },
        )

    def effect(self, key: str) -> EffectRecord | None:
        with reading(self.engine) as conn:
            row = conn.execute(_EFFECT, {"w_key": key}).mappings().first()
        return None if row is None else effect_record(row)

    def effects(self, run_id: str) -> list[EffectRecord]:
        with reading(self.engine) as conn:
            rows = conn.execute(
                sa.select(effect)
                .where(effect.c.run_id == run_id, effect.c.tool != MODEL_RESPONSE)
                .order_by(effect.c.started_at)
            ).mappings()
            return [effect_record(row) for row in rows]

    def mark_reversed(self, key: str, by_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                effect.update().where(effect.c.idempotency_key == key).values(reversed_by=by_key)
            )

    # --- stop switches ------------------------------------------------------------------

    def stop(self, *, agent: str, by: str, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(stop.insert().values(agent=agent, by=by, reason=reason, at=_now()))

    def lift(self, *, agent: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                stop.update()
                .where(stop.c.agent == agent, stop.c.lifted_at.is_(None))
                .values(lifted_at=_now())
            )
            return int(result.rowcount)

    def clear_stops(self) -> None:
        """Forget every stop switch, lifted or not: a fresh start (for tests and trials)."""
        with self.engine.begin() as conn:
            conn.execute(stop.delete())

    def status(self, run_id: str) -> RunStatus:
        """The run's status alone (one column)."""
        with reading(self.engine) as conn:
            found = conn.execute(sa.select(run.c.status).where(run.c.id == run_id)).scalar()
        if found is None:
            raise RunNotFound(run_id)
        status: RunStatus = found
        return status

    def stopped(self, agent: str) -> str | None:
        """Why ``agent`` is stopped (its own switch or the one for all), or None."""
        with reading(self.engine) as conn:
            row = conn.execute(_SWITCH_QUERY, {"agent": agent}).first()
        return None if row is None else _stopped_reason(row.agent, row.by, row.reason)


# Statements of the hot path are built once: building one per call costs more Python
# than the database's work. Parameters named w_* are the WHERE clause's; the others are
# the values written.
_BEGIN_SEGMENT = (
    run.update()
    .where(
        run.c.id == sa.bindparam("w_id"),
        run.c.segment == sa.bindparam("w_segment"),
        run.c.status.in_(("queued", "running")),
    )
    .values(status="running", updated_at=sa.bindparam("now"))
    .returning(*run.c)
)

_EXISTS = Prepared(sa.select(run.c.id).where(run.c.id == sa.bindparam("w_id")))
_EFFECT = sa.select(effect).where(effect.c.idempotency_key == sa.bindparam("w_key"))
_INSERT_EFFECT = effect.insert()
_UPDATE_EFFECT = effect.update().where(effect.c.idempotency_key == sa.bindparam("w_key"))
_PARKED = sa.select(run.c.segment, run.c.pending, run.c.state_version).where(
    run.c.id == sa.bindparam("w_id"), run.c.status == "waiting_approval"
)


def _run_update(only_if: bool, in_segment: bool) -> sa.Update:
    query = run.update().where(run.c.id == sa.bindparam("w_id"))
    if only_if:
        query = query.where(run.c.status.in_(sa.bindparam("w_statuses", expanding=True)))
    if in_segment:
        query = query.where(run.c.segment == sa.bindparam("w_segment"))
    return query


_RUN_UPDATES = {
    (only_if, in_segment): _run_update(only_if, in_segment)
    for only_if in (False, True)
    for in_segment in (False, True)
}
"""A run's update, by whether it is conditional on its status and on its segment."""


def _read_upsert(dialect: str) -> Any:
    """A finished read noted in the ledger: the first attempt, or one more (the
    dialect is imported only when a database of its kind is)."""
    upsert = dialect_insert(dialect)(effect)
    again = ("status", "result", "model_text", "finished_at")
    return upsert.on_conflict_do_update(
        index_elements=[effect.c.idempotency_key],
        set_={"attempts": effect.c.attempts + 1}
        | {column: upsert.excluded[column] for column in again},
    )


_READ_UPSERT = Prepared(_read_upsert, keys=LEDGER_ROW)


_SWITCH = (stop.c.agent, stop.c.by, stop.c.reason)
_SWITCH_QUERY = (
    sa.select(*_SWITCH)
    .where(stop.c.agent.in_((sa.bindparam("agent"), "*")), stop.c.lifted_at.is_(None))
    .order_by(stop.c.at)
    .limit(1)
)
"""The stop switch in force for an agent (its own or the one for all), if any."""
_CALL_CONTEXT = sa.select(
    run.c.untrusted,
    run.c.known_contacts,
    run.c.provenance,
    *(_SWITCH_QUERY.with_only_columns(column).scalar_subquery() for column in _SWITCH),
    run.c.status,
    run.c.segment,
).where(run.c.id == sa.bindparam("run_id"))
"""A run's state, its agent's stop switch and where it stands, in one read."""
_CONTEXT_WIDTH = len(_CALL_CONTEXT.selected_columns)
_EFFECT_COLUMNS = tuple(column.name for column in effect.c)
_CALL_STATE = Prepared(
    _CALL_CONTEXT.add_columns(
        *(column.label(f"e_{column.name}") for column in effect.c)
    ).select_from(run.outerjoin(effect, effect.c.idempotency_key == sa.bindparam("w_key")))
)
""":data:`_CALL_CONTEXT` and the ledger's row of one call (if any), in one statement
(every call of a run reads it: prepared)."""


def _context_of(run_id: str, row: Any) -> tuple[RunState, str | None, tuple[str, int]]:
    state = _state(run_id, row[0], row[1], row[2])
    scope, by, reason = row[3:6]
    stopped = None if scope is None else _stopped_reason(scope, by, reason)
    return state, stopped, (row[6], row[7])


_PAST_CALLS = (
    sa.select(effect)
    .where(
        effect.c.run_id == sa.bindparam("run_id"),
        effect.c.status != "refused",
        effect.c.tool != MODEL_RESPONSE,
    )
    .order_by(effect.c.started_at, effect.c.call_id)
)


def _state(run_id: str, untrusted: Any, contacts: Any, provenance: Any) -> RunState:
    return RunState(
        id=run_id,
        untrusted=bool(untrusted),
        known_contacts=frozenset(contacts),
        provenance={key: tuple(sources) for key, sources in (provenance or {}).items()},
    )


def _stopped_reason(scope: str, by: str, reason: str) -> str:
    return f"{'all agents' if scope == '*' else scope} stopped by {by}: {reason}"
