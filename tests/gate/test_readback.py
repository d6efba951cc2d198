"""Outcome records: a tool's read-back reads the system after the effect (and before
it), the executed event keeps both beside the answer, and a system that disagrees with
the answer is a recorded discrepancy, never a changed outcome."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tether.audit import AuditLog
from tether.calls import Principal, ProposedCall, RunState
from tether.gate import Executed, Gate, compare
from tether.policy import load_policy_text
from tether.tools import Effect, ReadBack, Toolset, tool

PASSWORD = "hunter2-s3cret"
BALANCES: dict[str, float] = {}
"""The 'system' the tools act on."""


def account(args: dict[str, Any], *_: Any) -> dict[str, Any]:
    return {"account": args["account"], "balance": BALANCES.get(args["account"], 0.0)}


@tool(
    name="bank.deposit",
    effect=Effect.WRITE,
    read_back=ReadBack(
        before=account,
        after=account,
        expect=lambda args, answer: {"account": args["account"], "balance": answer["balance"]},
        system="bank",
    ),
)
def deposit(account: str, amount: float) -> dict[str, Any]:
    BALANCES[account] = BALANCES.get(account, 0.0) + amount
    return {"account": account, "balance": BALANCES[account]}


@tool(name="bank.deposit_badly", effect=Effect.WRITE, read_back=ReadBack(after=account))
def deposit_badly(account: str, amount: float) -> dict[str, Any]:
    """Says it deposited; the system got half."""
    BALANCES[account] = BALANCES.get(account, 0.0) + amount / 2
    return {"account": account, "balance": BALANCES[account] + amount / 2, "note": "done"}


def failing_read(args: dict[str, Any], _answer: Any) -> Any:
    raise ConnectionError(f"cannot log in with {args['password']}")


@tool(
    name="bank.login_and_pay",
    effect=Effect.WRITE,
    secret_args=["password"],
    read_back=ReadBack(after=failing_read, system="bank"),
)
def login_and_pay(password: str, amount: float) -> str:
    return f"paid {amount}"


async def slow_read(_args: dict[str, Any], _answer: Any) -> Any:
    await asyncio.sleep(5)


@tool(name="bank.slow_to_read", effect=Effect.WRITE, read_back=ReadBack(after=slow_read))
def slow_to_read(amount: float) -> str:
    return "ok"


TOOLS = Toolset([deposit, deposit_badly, login_and_pay, slow_to_read])
POLICY = """
version: 1
roles: {staff: {may: ["*"]}}
users: {alice: {roles: [staff]}}
agents:
  bot:
    may_act_for: [role:staff]
    tools: [{tool: "bank.*"}]
"""


def call(tool_name: str, **args: Any) -> ProposedCall:
    return ProposedCall(
        tool=tool_name,
        args=args,
        agent="bot",
        principal=Principal(id="alice", roles=frozenset({"staff"})),
        run=RunState(id="run-1"),
        call_id=tool_name,
    )


def executed(log: AuditLog, tool_name: str) -> dict[str, Any]:
    (event,) = [s.event for s in log.events(tool=tool_name) if s.event.type == "call.executed"]
    assert event.effect is not None
    outcome: dict[str, Any] = event.effect["outcome"]
    return outcome


def run(gate: Gate, tool_name: str, **args: Any) -> Executed:
    outcome = asyncio.run(gate.call(call(tool_name, **args)))
    assert isinstance(outcome, Executed), outcome
    return outcome


def test_before_and_after_are_recorded_and_agree(sqlite_url: str, tmp_path: Any) -> None:
    BALANCES.clear()
    BALANCES["acme"] = 10.0
    with AuditLog(sqlite_url, keys=tmp_path / "keys") as log:
        gate = Gate(load_policy_text(POLICY, tools=TOOLS), database=sqlite_url, recorder=log)
        run(gate, "bank.deposit", account="acme", amount=5.0)
        assert executed(log, "bank.deposit") == {
            "status": "confirmed",
            "system": "bank",
            "before": {"account": "acme", "balance": 10.0},
            "after": {"account": "acme", "balance": 15.0},
        }
        assert log.verify().intact


def test_a_system_that_disagrees_is_a_discrepancy(sqlite_url: str, tmp_path: Any) -> None:
    BALANCES.clear()
    with AuditLog(sqlite_url, keys=tmp_path / "keys") as log:
        gate = Gate(load_policy_text(POLICY, tools=TOOLS), database=sqlite_url, recorder=log)
        outcome = run(gate, "bank.deposit_badly", account="acme", amount=100.0)
        assert outcome.output.value["balance"] == 100.0  # what the tool said
        record = executed(log, "bank.deposit_badly")
        assert record["status"] == "discrepancy"
        assert record["after"] == {"account": "acme", "balance": 50.0}
        assert record["discrepancies"] == [{"path": "balance", "answer": 100.0, "system": 50.0}]


def test_a_failing_read_back_is_unread_and_keeps_secrets_out(
    sqlite_url: str, tmp_path: Any
) -> None:
    with AuditLog(sqlite_url, keys=tmp_path / "keys") as log:
        gate = Gate(load_policy_text(POLICY, tools=TOOLS), database=sqlite_url, recorder=log)
        run(gate, "bank.login_and_pay", password=PASSWORD, amount=3.0)
        record = executed(log, "bank.login_and_pay")
        assert record["status"] == "unread"
        assert record["error"].startswith("ConnectionError: cannot log in with")
        stored = json.dumps([s.record for s in log.events()])
        assert PASSWORD not in stored


def test_a_read_back_that_hangs_times_out(sqlite_url: str, tmp_path: Any) -> None:
    with AuditLog(sqlite_url, keys=tmp_path / "keys") as log:
        gate = Gate(
            load_policy_text(POLICY, tools=TOOLS),
            database=sqlite_url,
            recorder=log,
            timeout_seconds=0.2,
        )
        run(gate, "bank.slow_to_read", amount=1.0)
        assert executed(log, "bank.slow_to_read") == {
            "status": "unread",
            "system": "",
            "error": "the read-back timed out after 0.2s",
        }


def test_compare_is_strict_about_expectations_and_lenient_about_answers() -> None:
    assert compare({"a": 1, "b": {"c": "2.50"}}, {"a": 1, "b": {"c": 2.5}}, strict=True) == ()
    (missing,) = compare({"a": 1, "gone": True}, {"a": 1}, strict=True)
    assert (missing.path, missing.answer, missing.system) == ("gone", True, None)
    assert compare({"a": 1, "only_in_answer": 2}, {"a": 1}, strict=False) == ()
    assert compare("201 Created", {"exists": True}, strict=False) == ()
    (line,) = compare(
        {"lines": [{"q": 1}, {"q": 2}]}, {"lines": [{"q": 1}, {"q": 3}]}, strict=False
    )
    assert line.path == "lines.1.q"
