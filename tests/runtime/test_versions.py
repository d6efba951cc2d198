"""Upgrades and rollbacks: work is never stranded because another version touched the
database (issue 15, item 2).

DBOS gives work queued without a version only to the latest application version it
has seen, and recovers a workflow only under the version that started it. tether's
version for DBOS is its durable protocol's, and every segment is queued with one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tether.agents import Agent
from tether.policy import load_policy_text
from tether.runtime import DURABLE_VERSION, Runtime
from tether.tools import Toolset, tool


@tool(name="mail.send", effect="communicate")
def send(to: str) -> str:
    """Send a mail."""
    return f"sent to {to}"


POLICY = """
version: 1
roles: {clerk: {may: ["*"]}, lead: {may: ["*"]}}
users: {alice: {roles: [clerk]}, fiona: {roles: [lead]}}
defaults: {approval: {approvers: [role:lead]}}
agents:
  desk:
    may_act_for: [role:clerk]
    tools: [{id: mail, tool: mail.send}]
"""
SCRIPT = """
turns:
  - calls: [{tool: mail.send, args: {to: a@x.example}}]
  - text: Sent.
"""


def runtime(tmp_path: Path, version: str | None = None) -> Runtime:
    (tmp_path / "script.yaml").write_text(SCRIPT)
    policy = load_policy_text(POLICY, tools=Toolset([send]))
    agent = Agent(name="desk", policy=policy, model=f"scripted:{tmp_path / 'script.yaml'}")
    return Runtime(
        policy=policy,
        agents=[agent],
        database=f"sqlite:///{tmp_path / 'tether.db'}",
        keys=str(tmp_path / "keys"),
        application_version=version,
    )


def test_the_durable_protocol_not_the_release_is_dbos_s_version(tmp_path: Path) -> None:
    with runtime(tmp_path) as rt:
        assert rt.application_version == f"tether-durable-{DURABLE_VERSION}"


def test_runs_go_on_after_another_version_registered_itself_as_the_latest(tmp_path: Path) -> None:
    with runtime(tmp_path, "tether-durable-99") as newer:  # a newer checkout, then rolled back
        newer.launch()
    with runtime(tmp_path) as rt:
        rt.launch()
        run = rt.start("desk", "mail a", principal="alice")
        parked = rt.wait(run.id, timeout_seconds=30)
        assert parked.status == "waiting_approval"  # it ran: not left queued
        (request,) = rt.approvals.find(run_id=run.id)
        rt.approve(request.id, by="fiona")
        assert rt.wait(run.id, timeout_seconds=30).status == "completed"


def test_a_parked_run_resumes_under_the_version_that_decides_it(tmp_path: Path) -> None:
    with runtime(tmp_path) as old:
        old.launch()
        run = old.start("desk", "mail a", principal="alice")
        assert old.wait(run.id, timeout_seconds=30).status == "waiting_approval"
    with runtime(tmp_path, "tether-durable-99") as upgraded:  # parked runs hold no workflow
        upgraded.launch()
        (request,) = upgraded.approvals.find(run_id=run.id)
        upgraded.approve(request.id, by="fiona")
        assert upgraded.wait(run.id, timeout_seconds=30).status == "completed"


def test_a_run_of_a_newer_protocol_waits_for_its_workers_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with runtime(tmp_path) as rt:
        rt.launch()
        rt.store.create(
            run_id="r-new",
            agent="desk",
            agent_version="1",
            principal="alice",
            task="mail a",
            state_version=DURABLE_VERSION + 1,
        )
        with caplog.at_level(logging.WARNING, logger="tether.runtime"):
            report = rt.sweep()
            again = rt.sweep()
        newer = f"tether-durable-{DURABLE_VERSION + 1}"
        assert report.elsewhere == {newer: 1} and again.elsewhere == {newer: 1}
        warnings = [r.getMessage() for r in caplog.records if "another durable" in r.getMessage()]
        assert len(warnings) == 1 and newer in warnings[0]  # said once, not every sweep
        assert rt.wait("r-new", timeout_seconds=1).status == "queued"  # not run by old code
