"""The whole gate: a call is decided, run only when allowed, checked, and every step recorded."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tether.calls import Principal, ProposedCall, RunState
from tether.gate import AwaitingApproval, Executed, Failed, Gate, GateEvent, Refused
from tether.policy import load_policy_text
from tether.redaction import SECRET
from tether.tools import Effect, ToolContext, Toolset, tool

EFFECTS: list[str] = []


def _owner(party_id: int, **_: Any) -> Mapping[str, Any] | None:
    return {"team": "emea" if party_id == 1 else "us"}


@tool(name="crm.rename", effect=Effect.WRITE, resource="party", locate=_owner)
def rename(party_id: int, name: str) -> str:
    EFFECTS.append(f"rename {party_id} {name}")
    return f"renamed {party_id}"


@tool(name="erp.refund", effect=Effect.IRREVERSIBLE)
def refund(amount: float) -> str:
    EFFECTS.append(f"refund {amount}")
    return "refunded"


@tool(name="api.call", effect=Effect.WRITE, secret_args=["token"])
def api_call(ctx: ToolContext, token: str, path: str) -> dict[str, str]:
    EFFECTS.append(f"api {ctx.idempotency_key}")
    if path == "/boom":
        raise RuntimeError(f"server said no to token {token}")
    return {"echo": f"used {token}", "key": ctx.idempotency_key}


@tool(name="api.slow", effect=Effect.READ)
async def slow() -> str:
    await asyncio.sleep(5)
    return "late"


@tool(name="api.bad", effect=Effect.READ)
def bad() -> int:
    return "not a number"  # type: ignore[return-value]


TOOLS = Toolset([rename, refund, api_call, slow, bad])
POLICY = """
version: 1
roles:
  staff: {may: ["*"]}
  boss: {may: ["*"]}
users:
  alice: {roles: [staff], attributes: {team: emea}}
  fiona: {roles: [boss]}
defaults:
  approval: {approvers: [role:boss]}
agents:
  bot:
    may_act_for: [role:staff]
    scope: resource.team == principal.attributes.team
    tools:
      - tool: crm.rename
      - {tool: erp.refund, unscoped: refunds the caller's own account}
      - {tool: "api.*", unscoped: the API holds no customer records}
"""


class Events:
    def __init__(self) -> None:
        self.events: list[GateEvent] = []

    def record(self, event: GateEvent) -> None:
        self.events.append(event)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]


@pytest.fixture
def recorder() -> Events:
    EFFECTS.clear()
    return Events()


@pytest.fixture
def gate(recorder: Events, sqlite_url: str) -> Iterator[Gate]:
    policy = load_policy_text(POLICY, tools=TOOLS)
    with Gate(policy, database=sqlite_url, recorder=recorder, timeout_seconds=0.2) as gate:
        yield gate


ALICE = Principal(id="alice", roles=frozenset({"staff"}), attributes={"team": "emea"})


def proposed(tool_name: str, **args: Any) -> ProposedCall:
    return ProposedCall(
        tool=tool_name,
        args=args,
        agent="bot",
        principal=ALICE,
        run=RunState(id="run-7"),
        call_id="call-3",
        why="because the user asked",
    )


async def test_an_audited_gate_records_into_the_audit_trail(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.audit import AuditLog, audited_gate

    monkeypatch.setenv("TETHER_AUDIT_KEYS", str(tmp_path / "keys"))
    with Gate(load_policy_text(POLICY, tools=TOOLS), database=sqlite_url) as bare:
        assert bare.recorder is None  # the gate knows no audit log of its own
    with audited_gate(load_policy_text(POLICY, tools=TOOLS), database=sqlite_url) as gate:
        outcome = await gate.call(proposed("crm.rename", party_id=1, name="Acme"))
        assert isinstance(outcome, Executed)
        with AuditLog(gate.engine, keys=tmp_path / "keys") as audit:
            kinds = [stored.event.type for stored in audit.events()]
    assert kinds == ["call.proposed", "call.decided", "call.executed"]


async def test_allowed_call_runs_and_is_recorded(gate: Gate, recorder: Events) -> None:
    outcome = await gate.call(proposed("crm.rename", party_id=1, name="Acme"))
    assert isinstance(outcome, Executed)
    assert outcome.model_text == "renamed 1"
    assert EFFECTS == ["rename 1 Acme"]
    assert recorder.types == ["call.proposed", "call.decided", "call.executed"]
    assert recorder.events[0].call.why == "because the user asked"
    assert recorder.events[0].call.resource == {"team": "emea"}


async def test_denied_call_never_runs(gate: Gate, recorder: Events) -> None:
    outcome = await gate.call(proposed("crm.rename", party_id=3, name="Initech"))
    assert isinstance(outcome, Refused)
    assert outcome.decision.rules == ("bot.scope",)
    assert EFFECTS == []
    assert "not permitted" in outcome.model_text
    assert recorder.types == ["call.proposed", "call.decided"]


async def test_call_needing_approval_does_not_run(gate: Gate, recorder: Events) -> None:
    outcome = await gate.call(proposed("erp.refund", amount=10.0))
    assert isinstance(outcome, AwaitingApproval)
    assert EFFECTS == []
    assert "approval" in outcome.model_text
    assert recorder.types == ["call.proposed", "call.decided"]


async def test_approved_call_runs_through_execute(gate: Gate) -> None:
    call = proposed("erp.refund", amount=10.0)
    decision = gate.decide(call)
    assert decision.kind == "needs_approval"
    outcome = await gate.execute(call, decision)  # type: ignore[arg-type]
    assert isinstance(outcome, Executed)
    assert EFFECTS == ["refund 10.0"]


async def test_tool_gets_an_idempotency_key_from_run_and_call(gate: Gate) -> None:
    outcome = await gate.call(proposed("api.call", token="tok-123456", path="/ok"))
    assert isinstance(outcome, Executed)
    assert outcome.output.value["key"] == "run-7:call-3"


async def test_secret_arguments_never_reach_the_record_or_the_model(
    gate: Gate, recorder: Events
) -> None:
    outcome = await gate.call(proposed("api.call", token="tok-123456", path="/ok"))
    assert isinstance(outcome, Executed)
    assert "tok-123456" not in outcome.model_text
    for event in recorder.events:
        assert event.args["token"] == SECRET
        assert "tok-123456" not in repr(event.args)
        if event.output is not None:
            assert "tok-123456" not in repr(event.output.value)


async def test_a_secret_the_model_repeats_in_its_why_is_not_recorded(
    gate: Gate, recorder: Events
) -> None:
    call = dataclasses.replace(
        proposed("api.call", token="tok-123456", path="/ok"),
        why="calling with token tok-123456 as the user said",
    )
    outcome = await gate.call(call)
    assert isinstance(outcome, Executed)
    assert recorder.types == ["call.proposed", "call.decided", "call.executed"]
    for event in recorder.events:
        assert "tok-123456" not in event.call.why
        assert event.call.why.startswith("calling with token ")


async def test_tool_exception_is_a_failure_with_the_secret_redacted(
    gate: Gate, recorder: Events
) -> None:
    outcome = await gate.call(proposed("api.call", token="tok-123456", path="/boom"))
    assert isinstance(outcome, Failed)
    assert "server said no" in outcome.error
    assert "tok-123456" not in outcome.error
    assert recorder.types[-1] == "call.failed"
    assert recorder.events[-1].error == outcome.error


async def test_timeout_is_a_failure(gate: Gate) -> None:
    outcome = await gate.call(proposed("api.slow"))
    assert isinstance(outcome, Failed)
    assert "timed out after 0.2s" in outcome.error


async def test_output_that_breaks_its_declared_type_is_a_failure(gate: Gate) -> None:
    outcome = await gate.call(proposed("api.bad"))
    assert isinstance(outcome, Failed)
    assert "does not match its declared type" in outcome.error


async def test_unknown_target_is_out_of_scope(gate: Gate, sqlite_url: str) -> None:
    def missing(party_id: int, **_: Any) -> Mapping[str, Any] | None:
        raise LookupError(party_id)

    tools = Toolset(
        [
            *(t for t in TOOLS if t.name != "crm.rename"),
            tool(name="crm.rename", effect="write", resource="party", locate=missing)(
                rename.function
            ),
        ]
    )
    with Gate(load_policy_text(POLICY, tools=tools), database=sqlite_url, recorder=None) as other:
        outcome = await other.call(proposed("crm.rename", party_id=99, name="X"))
    assert isinstance(outcome, Refused)
    assert "was not identified" in outcome.decision.reasons[0]
    assert EFFECTS == []
