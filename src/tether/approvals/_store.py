"""Approval requests and their votes in tether's database: rows in, records out.

Every write that decides something is conditional on the request's status (``WHERE
status = 'pending'``, ``'approved'``): of two writers at once, one wins, no lock needed.
Hot statements are built once with bind parameters: building one per call costs more
Python than the database's work.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tether.approvals._errors import ApprovalNotFound
from tether.approvals._model import ApprovalRequest, Vote
from tether.approvals._tables import approval_request, approval_vote
from tether.db import as_utc, reading


class ApprovalStore:
    """Reads and writes the requests of one tether database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- reading ----------------------------------------------------------------------

    def get(self, request_id: str, *, conn: Connection | None = None) -> ApprovalRequest:
        """The request, or :class:`ApprovalNotFound`; in ``conn``'s transaction if given."""
        if conn is None:
            with reading(self.engine) as own:
                return self.get(request_id, conn=own)
        request = self._find_one(conn, _BY_ID, {"id": request_id})
        if request is None:
            raise ApprovalNotFound(request_id, "no such approval request")
        return request

    def for_call(
        self, run_id: str, call_id: str, *, conn: Connection | None = None
    ) -> ApprovalRequest | None:
        """The request made for this call of this run, if any."""
        if conn is None:
            with reading(self.engine) as own:
                return self.for_call(run_id, call_id, conn=own)
        return self._find_one(conn, _OF_CALLS, _of_calls(run_id, call_id))

    def of_calls(self, run_id: str, call_ids: Sequence[str]) -> list[ApprovalRequest]:
        """The requests made for these calls of a run."""
        with reading(self.engine) as conn:
            return self._find(conn, _OF_CALLS, _of_calls(run_id, *call_ids))

    def same_call(
        self,
        run_id: str,
        tool: str,
        args_hash: str,
        *,
        other_than: str,
        executed_since: _dt.datetime | None = None,
    ) -> ApprovalRequest | None:
        """A request of this run for the same tool and arguments as call ``other_than``
        that is still pending, approved or executed (with ``executed_since``: one
        executed counts only if it was approved since then), if there is one."""
        status = approval_request.c.status
        live: sa.ColumnElement[bool] = status.in_(("pending", "approved", "executed"))
        if executed_since is not None:
            live = status.in_(("pending", "approved")) | (
                (status == "executed") & (approval_request.c.decided_at >= executed_since)
            )
        query = (
            sa.select(approval_request)
            .where(
                approval_request.c.run_id == run_id,
                approval_request.c.tool == tool,
                approval_request.c.args_hash == args_hash,
                approval_request.c.call_id != other_than,
                live,
            )
            .order_by(approval_request.c.created_at)
            .limit(1)
        )
        with reading(self.engine) as conn:
            return self._find_one(conn, query, {})

    def find(
        self,
        *,
        status: str | None = "pending",
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

    def pending_where(self, *conditions: Any) -> list[ApprovalRequest]:
        """Pending requests that meet ``conditions``, chosen by the database (a sweep
        reads the few that are due, not every request waiting)."""
        query = sa.select(approval_request).where(
            approval_request.c.status == "pending", *conditions
        )
        with reading(self.engine) as conn:
            return self._find(conn, query.order_by(approval_request.c.created_at), {})

    def due_to_expire(self, now: _dt.datetime) -> list[ApprovalRequest]:
        return self.pending_where(approval_request.c.expires_at <= now)

    def due_to_escalate(self, now: _dt.datetime) -> list[ApprovalRequest]:
        return self.pending_where(
            approval_request.c.escalate_at <= now, approval_request.c.escalated.is_(False)
        )

    # --- writing ----------------------------------------------------------------------

    def insert(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(approval_request.insert().values(**row))

    def add_vote(self, conn: Connection, request_id: str, vote: Vote) -> None:
        conn.execute(_INSERT_VOTE, {"request_id": request_id, **vars(vote)})

    def update(self, conn: Connection, request_id: str, changes: dict[str, Any]) -> None:
        """Change a request's columns (in the caller's transaction)."""
        conn.execute(_UPDATE_REQUEST, {"w_id": request_id, **changes})

    def claim(self, conn: Connection, request_id: str) -> bool:
        """Mark an approved request executed; False if it is no longer approved."""
        return bool(conn.execute(_CLAIM, {"w_id": request_id}).rowcount)

    def close_pending(self, request_id: str, **values: Any) -> bool:
        """Set a pending request's status (expired, cancelled…); False if it was not pending."""
        with self.engine.begin() as conn:
            result = conn.execute(
                approval_request.update()
                .where(approval_request.c.id == request_id, approval_request.c.status == "pending")
                .values(**values)
            )
        return bool(result.rowcount)

    def mark_escalated(self, request_id: str) -> bool:
        """Note that a request was escalated; False if another process did first."""
        with self.engine.begin() as conn:
            result = conn.execute(
                approval_request.update()
                .where(approval_request.c.id == request_id, approval_request.c.escalated.is_(False))
                .values(escalated=True)
            )
        return bool(result.rowcount)

    # --- rows to records -------------------------------------------------------------

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


def pending_runs_query() -> sa.Select[Any]:
    """The ids of runs that have a request still pending (a subquery for other tables)."""
    return sa.select(approval_request.c.run_id).where(approval_request.c.status == "pending")


def _utc_or_none(value: _dt.datetime | None) -> _dt.datetime | None:
    return None if value is None else as_utc(value)


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
        assurance=row["assurance"],
        votes=tuple(
            Vote(
                approver=v["approver"],
                verdict=v["verdict"],
                args_hash=v["args_hash"],
                edited_args=v["edited_args"],
                comment=v["comment"],
                at=as_utc(v["at"]),
                actor=v["actor"],
            )
            for v in votes
        ),
    )


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
