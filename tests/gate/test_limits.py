"""Limits are settled in the database: per run, per agent and per principal, across processes."""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import call, policy
from tether.calls import Principal
from tether.gate import Allow, Decision, Deny, Gate

ROOT = Path(__file__).resolve().parents[2]

GRANTS = """
bot:
  may_act_for: [role:agent-users, role:clerk]
  tools:
    - id: refund
      tool: erp.refund
      approval: never
      limits:
        - {id: per-run, per: run, count: 2}
        - {id: budget, per: agent, window: 24h, sum: args.amount, max: 500}
    - id: find
      tool: crm.find
      limits:
        - {id: lookups, per: principal, window: 1h, count: 3}
    - id: update
      tool: crm.update
      limits:
        - {id: updates, per: run, count: 1, shadow: true}
"""

NOW = _dt.datetime(2026, 11, 25, 12, 0, tzinfo=_dt.UTC)


@pytest.fixture
def make_gate() -> Iterator[Callable[[str], Gate]]:
    gates: list[Gate] = []

    def make(url: str) -> Gate:
        gates.append(Gate(policy(GRANTS), database=url))
        return gates[-1]

    yield make
    for gate in gates:
        gate.close()


def refund(
    gate: Gate, amount: float, *, run: str, at: _dt.datetime = NOW, call_id: str = "c"
) -> Decision:
    return gate.decide(
        call("erp.refund", {"invoice": 1, "amount": amount}, run_id=run, call_id=call_id), now=at
    )


def test_count_per_run(database_url: str, make_gate: Callable[[str], Gate]) -> None:
    gate = make_gate(database_url)
    first = refund(gate, 1.0, run="r1", call_id="a")
    second = refund(gate, 1.0, run="r1", call_id="b")
    third = refund(gate, 1.0, run="r1", call_id="c")
    other_run = refund(gate, 1.0, run="r2", call_id="a")
    assert isinstance(first, Allow) and isinstance(second, Allow)
    assert isinstance(third, Deny)
    assert third.rules == ("per-run",)
    assert "2 calls used in this run" in third.reasons[0]
    assert "limit" in third.model_message
    assert isinstance(other_run, Allow)


def test_sum_per_agent_over_a_rolling_window(
    database_url: str, make_gate: Callable[[str], Gate]
) -> None:
    gate = make_gate(database_url)
    assert isinstance(refund(gate, 300.0, run="a"), Allow)
    over = refund(gate, 250.0, run="b")
    assert isinstance(over, Deny) and over.rules == ("budget",)
    assert "300 of args.amount used in 1 day" in over.reasons[0]
    # A refused call takes nothing from the budget: 200 still fits.
    assert isinstance(refund(gate, 200.0, run="c"), Allow)
    assert isinstance(refund(gate, 0.5, run="d"), Deny)
    # A day later the first refund has left the window.
    later = NOW + _dt.timedelta(hours=24, minutes=1)
    assert isinstance(refund(gate, 250.0, run="e", at=later), Allow)


def test_count_per_principal(database_url: str, make_gate: Callable[[str], Gate]) -> None:
    gate = make_gate(database_url)
    bob = Principal(id="bob", roles=frozenset({"clerk"}))
    for index in range(3):
        assert isinstance(
            gate.decide(call("crm.find", {"name": "x"}, run_id=f"r{index}"), now=NOW), Allow
        )
    assert isinstance(gate.decide(call("crm.find", {"name": "x"}, run_id="r9"), now=NOW), Deny)
    # Another principal has their own counter.
    assert isinstance(
        gate.decide(call("crm.find", {"name": "x"}, principal=bob, run_id="r9"), now=NOW), Allow
    )


def test_shadow_limit_reports_but_does_not_enforce(
    sqlite_url: str, make_gate: Callable[[str], Gate]
) -> None:
    gate = make_gate(sqlite_url)
    args = {"party_id": 1, "email": "e"}
    first = gate.decide(call("crm.update", args, call_id="a"), now=NOW)
    second = gate.decide(call("crm.update", args, call_id="b"), now=NOW)
    assert isinstance(first, Allow) and not first.shadow
    assert isinstance(second, Allow)
    assert [finding.rule for finding in second.shadow] == ["updates"]


def test_a_call_decided_again_claims_its_limits_once(
    database_url: str, make_gate: Callable[[str], Gate]
) -> None:
    # A run's step repeated after a crash decides the same call (same run and call id)
    # again: it must not use up the budget twice.
    gate = make_gate(database_url)
    assert isinstance(refund(gate, 300.0, run="a", call_id="x"), Allow)
    assert isinstance(refund(gate, 300.0, run="a", call_id="x"), Allow)
    assert isinstance(refund(gate, 200.0, run="b", call_id="y"), Allow)  # 300 + 200 = 500
    assert isinstance(refund(gate, 1.0, run="c", call_id="z"), Deny)


def test_released_claims_free_the_budget(sqlite_url: str, make_gate: Callable[[str], Gate]) -> None:
    gate = make_gate(sqlite_url)
    assert isinstance(refund(gate, 500.0, run="a", call_id="x"), Allow)
    assert isinstance(refund(gate, 1.0, run="b"), Deny)
    gate.ledger.release("a:x")
    assert isinstance(refund(gate, 500.0, run="c"), Allow)


def test_limits_hold_across_two_processes(database_url: str) -> None:
    # Create the schema first, so the workers race on the budget and not the migration.
    with Gate(policy(GRANTS), database=database_url) as gate:
        gate.ledger  # noqa: B018
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.gate.limit_worker", database_url, "20", name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    tallies = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        tallies.append(int(out.strip()))
    # 40 attempts against a budget of 25: exactly 25 are allowed, whoever got them.
    assert sum(tallies) == 25
