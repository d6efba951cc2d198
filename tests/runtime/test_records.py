"""What a run leaves on the record when it goes wrong: replayed steps, repeated or
duplicate calls, a model that ends without words or loops on unoffered tools, and
secrets the model repeats (issue 15: items 3, 4, 16, 18, 25, 26)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tether.agents import Agent
from tether.calls import ProposedCall, RunState
from tether.policy import Policy, load_policy_text
from tether.runtime import Runtime
from tether.service import Service
from tether.tools import Toolset, tool

SECRET = "tok-3f9a7c1e55d0b2aa"
DONE: list[str] = []


@tool(name="crm.lookup")
def lookup(name: str) -> str:
    """Find a customer."""
    DONE.append(f"lookup {name}")
    return f"customer {name}"


@tool(name="crm.rename", effect="write")
def rename(party: int, name: str) -> str:
    """Rename a customer."""
    DONE.append(f"rename {party} {name}")
    return f"renamed {party}"


@tool(name="mail.send", effect="communicate")
def send(to: str, body: str) -> str:
    """Send an email."""
    DONE.append(f"send {to}")
    return f"sent to {to}"


@tool(name="vault.store", effect="write", secret_args=["api_key"])
def store(service: str, api_key: str) -> str:
    """Keep a service's key."""
    DONE.append(f"store {service}")
    return f"stored the key of {service}"


TOOLS = Toolset([lookup, rename, send, store])
POLICY = """
version: 1
roles: {clerk: {may: ["*"]}, lead: {may: ["*"]}}
users: {alice: {roles: [clerk]}, fiona: {roles: [lead]}}
defaults: {approval: {approvers: [role:lead]}}
agents:
  desk:
    may_act_for: [role:clerk]
    tools:
      - {id: lookups, tool: crm.lookup}
      - {id: renames, tool: crm.rename, when: "args.party < 100"}
      - {id: mail, tool: mail.send}
      - {id: vault, tool: vault.store}
"""


@pytest.fixture(autouse=True)
def _clean() -> None:
    DONE.clear()


def policy() -> Policy:
    return load_policy_text(POLICY, tools=TOOLS)


def runtime(tmp_path: Path, script: str, *, launch: bool = True) -> Runtime:
    (tmp_path / "script.yaml").write_text(script)
    the_policy = policy()
    agent = Agent(name="desk", policy=the_policy, model=f"scripted:{tmp_path / 'script.yaml'}")
    rt = Runtime(
        policy=the_policy,
        agents=[agent],
        database=f"sqlite:///{tmp_path / 'tether.db'}",
        keys=str(tmp_path / "keys"),
    )
    if launch:
        rt.launch()
    return rt


def types(rt: Runtime, run_id: str, call_id: str | None = None) -> list[str]:
    return [
        stored.event.type
        for stored in rt.audit.events(run=run_id)
        if call_id is None or stored.event.call_id == call_id
    ]


def a_call(
    rt: Runtime, run_id: str, tool_name: str, args: dict[str, Any], call_id: str
) -> ProposedCall:
    principal = rt.policy.principal("alice")
    assert principal is not None
    return ProposedCall(
        tool=tool_name,
        args=args,
        agent="desk",
        principal=principal,
        run=RunState(id=run_id),
        call_id=call_id,
        why="the task asks for it",
    )


# --- a step run again after a crash is recorded once -----------------------------------


@pytest.mark.parametrize(
    ("tool_name", "args", "kind", "done"),
    [
        ("crm.lookup", {"name": "Acme"}, "executed", ["lookup Acme"]),
        ("crm.rename", {"party": 7, "name": "Acme"}, "executed", ["rename 7 Acme"]),
        ("crm.rename", {"party": 700, "name": "Acme"}, "refused", []),
        ("mail.send", {"to": "a@x.example", "body": "hi"}, "awaiting_approval", []),
    ],
)
def test_a_step_run_again_answers_as_before_and_records_nothing_twice(
    tmp_path: Path, tool_name: str, args: dict[str, Any], kind: str, done: list[str]
) -> None:
    with runtime(tmp_path, "turns: [{text: hi}]\n", launch=False) as rt:
        rt.store.create(run_id="r1", agent="desk", agent_version="1", principal="alice", task="t")
        call = a_call(rt, "r1", tool_name, args, "c1")
        first = asyncio.run(rt.calls.propose(call))
        recorded = types(rt, "r1", "c1")
        again = asyncio.run(rt.calls.propose(call))  # what a step replayed after a kill does
        assert (first.kind, again) == (kind, first)
        assert types(rt, "r1", "c1") == recorded  # nothing recorded twice
        assert recorded.count("call.decided") == 1
        assert done == DONE
        assert len(rt.approvals.find(run_id="r1", status=None)) == (kind == "awaiting_approval")
        assert rt.audit.verify().intact


def test_a_held_call_replayed_after_its_approval_is_not_held_again(tmp_path: Path) -> None:
    with runtime(tmp_path, "turns: [{text: hi}]\n", launch=False) as rt:
        rt.store.create(run_id="r1", agent="desk", agent_version="1", principal="alice", task="t")
        call = a_call(rt, "r1", "mail.send", {"to": "a@x.example", "body": "hi"}, "c1")
        held = asyncio.run(rt.calls.propose(call))
        assert held.kind == "awaiting_approval"
        rt.approvals.approve(held.request_id, by="fiona")
        again = asyncio.run(rt.calls.propose(call))
        assert again == held  # the run parks and resumes with the approval it has
        decisions = [
            s.event.decision["kind"]  # type: ignore[index]
            for s in rt.audit.events(run="r1")
            if s.event.type == "call.decided"
        ]
        assert decisions == ["needs_approval"]  # never a needs_approval after the approval


def test_a_replayed_execution_that_had_started_runs_once_more_with_the_same_key(
    tmp_path: Path,
) -> None:
    with runtime(tmp_path, "turns: [{text: hi}]\n", launch=False) as rt:
        rt.store.create(run_id="r1", agent="desk", agent_version="1", principal="alice", task="t")
        call = a_call(rt, "r1", "crm.rename", {"party": 7, "name": "Acme"}, "c1")
        rt.calls.decide(call)  # decided and noted as started; the worker dies here
        assert rt.store.effect("r1:c1").status == "started"  # type: ignore[union-attr]
        assert DONE == []
        again = asyncio.run(rt.calls.propose(call))
        assert again.kind == "executed"
        assert DONE == ["rename 7 Acme"]
        assert types(rt, "r1", "c1").count("call.decided") == 1
        assert rt.store.effect("r1:c1").status == "done"  # type: ignore[union-attr]


# --- duplicates and loops --------------------------------------------------------------


def test_an_identical_call_is_a_duplicate_not_a_second_request(tmp_path: Path) -> None:
    script = """
turns:
  - text: Mail them, twice to be sure.
    calls:
      - {tool: mail.send, args: {to: a@x.example, body: hello}}
      - {tool: mail.send, args: {to: a@x.example, body: hello}}
  - text: Done.
"""
    with runtime(tmp_path, script) as rt:
        run = rt.start("desk", "mail them", principal="alice")
        parked = rt.wait(run.id)
        assert parked.status == "waiting_approval"
        (request,) = rt.approvals.find(run_id=run.id, status=None)
        events = [stored.event for stored in rt.audit.events(run=run.id)]
        duplicates = [e for e in events if e.type == "approval.duplicate"]
        assert len(duplicates) == 1
        assert duplicates[0].approval == {"request_id": request.id, "status": "pending"}
        rt.approve(request.id, by="fiona")
        assert rt.wait(run.id).status == "completed"
        assert DONE == ["send a@x.example"]


def test_a_run_that_repeats_a_refused_call_is_halted(tmp_path: Path) -> None:
    refused = "{tool: crm.rename, args: {party: 500, name: X}}"
    script = f"""
turns:
  - calls: [{refused}]
  - calls: [{refused}]
  - calls: [{refused}]
  - calls: [{refused}]
  - text: never reached
"""
    with runtime(tmp_path, script) as rt:
        run = rt.start("desk", "rename 500", principal="alice")
        done = rt.wait(run.id)
        assert done.status == "failed"
        assert "halted" in (done.error or "") and "crm.rename 3 times" in (done.error or "")
        decided = [s.event for s in rt.audit.events(run=run.id) if s.event.type == "call.decided"]
        assert [e.decision["kind"] for e in decided] == ["deny"] * 3  # type: ignore[index]
        assert DONE == []


def test_a_refused_call_then_a_corrected_one_goes_on(tmp_path: Path) -> None:
    script = """
turns:
  - calls: [{tool: crm.rename, args: {party: 500, name: X}}]
  - calls: [{tool: crm.rename, args: {party: 500, name: X}}]
  - calls: [{tool: crm.rename, args: {party: 5, name: X}}]
  - text: Renamed.
"""
    with runtime(tmp_path, script) as rt:
        run = rt.start("desk", "rename", principal="alice")
        done = rt.wait(run.id)
        assert (done.status, done.output) == ("completed", "Renamed.")
        assert DONE == ["rename 5 X"]


# --- how a run ends --------------------------------------------------------------------


def test_a_model_that_ends_without_words_completes_and_its_actions_stand(tmp_path: Path) -> None:
    script = """
turns:
  - calls: [{tool: crm.rename, args: {party: 7, name: Acme}}]
  - text: ""
"""
    with runtime(tmp_path, script) as rt:
        run = rt.start("desk", "rename 7", principal="alice")
        done = rt.wait(run.id)
        assert done.status == "completed" and done.error is None
        assert DONE == ["rename 7 Acme"]
        assert [c.status for c in rt.store.effects(run.id)] == ["done"]
        events = [stored.event for stored in rt.audit.events(run=run.id)]
        (finished,) = [e for e in events if e.type == "run.finished"]
        assert finished.details == {
            "status": "completed",
            "answer": "the model ended the run without a final answer",
        }


def test_unoffered_calls_are_recorded_when_they_make_the_run_fail(tmp_path: Path) -> None:
    turn = "  - calls: [{tool: erp.wire_money, args: {to: evil, amount: 9000}}]\n"
    with runtime(tmp_path, "turns:\n" + turn * 6) as rt:
        run = rt.start("desk", "wire", principal="alice")
        done = rt.wait(run.id)
        assert done.status == "failed"
        refused = [
            s.event
            for s in rt.audit.events(run=run.id)
            if s.event.type == "call.decided" and s.event.tool == "erp.wire_money"
        ]
        assert refused and all(
            e.decision["rules"] == ["default-deny"] for e in refused  # type: ignore[index]
        )
        assert done.history is not None and "erp" in done.history  # what it did stays


# --- secrets the model repeats ---------------------------------------------------------


def test_a_secret_the_model_repeats_is_scrubbed_wherever_it_is_kept(tmp_path: Path) -> None:
    script = f"""
turns:
  - text: Storing the key.
    calls: [{{tool: vault.store, args: {{service: crm, api_key: {SECRET}}}}}]
  - text: The key {SECRET} is stored; now I mail it.
    calls: [{{tool: mail.send, args: {{to: ops@x.example, body: the key}}}}]
  - text: Done. The key was {SECRET}.
"""
    with runtime(tmp_path, script) as rt:
        run = rt.start("desk", "keep the key", principal="alice")
        assert rt.wait(run.id).status == "waiting_approval"
        (request,) = rt.approvals.find(run_id=run.id)
        assert SECRET not in request.why and "[REDACTED]" in request.why
        assert SECRET not in request.preview
        rt.approve(request.id, by="fiona")
        done = rt.wait(run.id)
        assert done.status == "completed"
        assert SECRET not in (done.output or "") and "[REDACTED]" in (done.output or "")

        with rt.engine.connect() as conn:
            for table in ("tether_audit_event", "tether_approval_request", "tether_approval_vote"):
                rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
                assert rows and SECRET not in repr(rows), table
            run_row = conn.execute(sa.text("SELECT output, error FROM tether_run")).all()
            assert SECRET not in repr(run_row)

        service = Service(rt)
        text = service.run_scrubber(rt.store.get(run.id)).redact_text(f"see {SECRET}")
        assert text == "see [REDACTED]"
        summary = request.summary(request.created_at)
        assert SECRET not in repr(summary)


def test_a_runtime_that_is_not_a_worker_keeps_the_policy_that_decides(tmp_path: Path) -> None:
    """Issue 17, item 3: the text of every policy version that decided a call is stored,
    whichever process decided it: here a runtime that was never launched."""
    with runtime(tmp_path, "turns: [{text: hi}]\n", launch=False) as rt:
        assert not list(rt.audit.events(type="policy.loaded"))  # nothing decided yet
        rt.store.create(run_id="r1", agent="desk", agent_version="1", principal="alice", task="t")
        asyncio.run(rt.calls.propose(a_call(rt, "r1", "crm.lookup", {"name": "Acme"}, "c1")))
        (loaded,) = list(rt.audit.events(type="policy.loaded"))
        assert (loaded.event.details or {})["policy_version"] == rt.policy.version
        assert rt.audit.policy_text(rt.policy.version) == POLICY
        decided = next(iter(rt.audit.events(type="call.decided")))
        assert loaded.seq < decided.seq
