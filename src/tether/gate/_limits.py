"""Limits and budgets, settled in the database so they hold across processes and hosts."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tether.db import hold_lock, limit_usage, write_transaction
from tether.gate._evaluate import LimitClaim


@dataclass(frozen=True, kw_only=True)
class LimitBreach:
    claim: LimitClaim
    used: float
    """What was already used in the window before this call."""

    @property
    def message(self) -> str:
        limit = self.claim.limit
        span = f"in {limit.window}" if limit.window else "in this run"
        measure = (
            "calls" if limit.count is not None else f"of {limit.sum.source if limit.sum else ''}"
        )
        return (
            f"limit {limit.rule}: {self.used:g} {measure} used {span}, this call adds "
            f"{self.claim.amount:g}, the limit is {self.claim.ceiling:g}"
        )


class LimitLedger:
    """Counts what each limited action used, in tether's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def settle(
        self,
        claims: Sequence[LimitClaim],
        *,
        call_id: str,
        now: _dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> list[LimitBreach]:
        """Record the claims if no enforced limit is exceeded; return every breach.

        Check and record happen in one locked transaction (``conn``'s, when given), so
        two processes cannot both take the last unit of a budget. When an enforced
        limit is breached, nothing is recorded; shadow limits are recorded and
        reported. A claim the call already settled (a step repeated after a crash) is
        not settled again.
        """
        if not claims:
            return []
        now = now or _dt.datetime.now(_dt.UTC)
        lock = _lock_name(claims)
        if conn is not None:
            hold_lock(conn, lock)
            return _settle_in(conn, claims, call_id, now)
        with write_transaction(self._engine, lock) as own:
            return _settle_in(own, claims, call_id, now)

    def resettle(
        self, claims: Sequence[LimitClaim], *, call_id: str, now: _dt.datetime | None = None
    ) -> list[LimitBreach]:
        """Replace what a call claimed with ``claims`` (its arguments were edited).

        In one locked transaction: the call's old claims are given back, the new ones
        checked and recorded. When an enforced limit would be breached, nothing
        changes: the old claims stay.
        """
        now = now or _dt.datetime.now(_dt.UTC)
        lock = _lock_name(claims)
        try:
            with write_transaction(self._engine, lock) as conn:
                conn.execute(limit_usage.delete().where(limit_usage.c.call_id == call_id))
                breaches = [
                    LimitBreach(claim=claim, used=used)
                    for claim in claims
                    if (used := _used(conn, claim, now)) + claim.amount > claim.ceiling
                ]
                if any(not breach.claim.limit.shadow for breach in breaches):
                    raise _Breached(breaches)  # rolls the transaction back
                if claims:
                    conn.execute(limit_usage.insert(), _rows(claims, call_id, now))
        except _Breached as breached:
            return breached.breaches
        return breaches

    def clear(self) -> None:
        """Forget every limit's usage: a fresh start (for tests and evaluation trials)."""
        with self._engine.begin() as conn:
            conn.execute(limit_usage.delete())

    def release(self, call_id: str) -> list[Released]:
        """Give back what a call claimed (it was rejected or never ran); what it was."""
        with self._engine.begin() as conn:
            rows = conn.execute(
                sa.select(limit_usage.c.limit_key, limit_usage.c.amount).where(
                    limit_usage.c.call_id == call_id
                )
            ).all()
            conn.execute(limit_usage.delete().where(limit_usage.c.call_id == call_id))
        return [Released(counter=row.limit_key, amount=float(row.amount)) for row in rows]


@dataclass(frozen=True, kw_only=True)
class Released:
    """A reservation given back: a held call that was rejected, expired or cancelled."""

    counter: str
    """The counter (``agent:desk|refund-budget``…), as :attr:`LimitClaim.key`."""
    amount: float
    """What it had reserved."""

    def as_record(self) -> dict[str, object]:
        return {"counter": self.counter, "amount": self.amount}


def _lock_name(claims: Sequence[LimitClaim]) -> str:
    return "limits:" + ",".join(sorted({claim.key for claim in claims}))


def _settle_in(
    conn: Connection, claims: Sequence[LimitClaim], call_id: str, now: _dt.datetime
) -> list[LimitBreach]:
    settled = _settled_counters(conn, call_id)
    claims = [claim for claim in claims if claim.key not in settled]
    if not claims:
        return []
    breaches = [
        LimitBreach(claim=claim, used=used)
        for claim in claims
        if (used := _used(conn, claim, now)) + claim.amount > claim.ceiling
    ]
    if any(not breach.claim.limit.shadow for breach in breaches):
        return breaches
    conn.execute(limit_usage.insert(), _rows(claims, call_id, now))
    return breaches


class _Breached(Exception):
    def __init__(self, breaches: list[LimitBreach]) -> None:
        super().__init__("limit breached")
        self.breaches = breaches


def _rows(claims: Sequence[LimitClaim], call_id: str, now: _dt.datetime) -> list[dict[str, object]]:
    return [
        {"limit_key": c.key, "amount": c.amount, "used_at": now, "call_id": call_id} for c in claims
    ]


def _settled_counters(conn: Connection, call_id: str) -> set[str]:
    query = sa.select(limit_usage.c.limit_key).where(limit_usage.c.call_id == call_id)
    return set(conn.execute(query).scalars())


def _used(conn: Connection, claim: LimitClaim, now: _dt.datetime) -> float:
    query = sa.select(sa.func.coalesce(sa.func.sum(limit_usage.c.amount), 0.0)).where(
        limit_usage.c.limit_key == claim.key
    )
    if claim.limit.window is not None:
        query = query.where(limit_usage.c.used_at > now - claim.limit.window)
    return float(conn.execute(query).scalar_one())
