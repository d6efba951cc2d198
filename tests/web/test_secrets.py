"""No page and no API answer shows a secret argument, even to the approver deciding it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import FAST, csrf_of
from tether.agents import Agent
from tether.calls import ProposedCall, RunState
from tether.config import WebSettings, WebTokenSettings, WebUserSettings
from tether.gate import NeedsApproval
from tether.policy import load_policy_text
from tether.runtime import Runtime
from tether.tools import Effect, Toolset, tool
from tether.web import create_app, hash_password, token_digest

SECRET = "correct-horse-battery-staple-42"


@tool(name="vault.set_password", effect=Effect.IRREVERSIBLE, secret_args=["new_password"])
def set_password(account: str, new_password: str) -> bool:
    """Set an account's password."""
    return bool(account and new_password)


POLICY = """
version: 1
roles:
  ops: {may: ["vault.*"]}
  security: {may: ["vault.*"]}
users:
  olga: {roles: [ops]}
  sec: {roles: [security]}
defaults:
  approval: {approvers: ["role:security"], quorum: 1, expires: 1h}
agents:
  keeper:
    may_act_for: ["role:ops"]
    tools:
      - {id: rotate, tool: vault.set_password}
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    policy = load_policy_text(POLICY, file="vault.yaml", tools=Toolset([set_password]))
    rt = Runtime(
        policy=policy,
        agents=[Agent(name="keeper", policy=policy)],
        database=f"sqlite:///{tmp_path / 'tether.db'}",
        keys=str(tmp_path / "keys"),
    )
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    settings = WebSettings(
        users={
            "sec": WebUserSettings(
                password_hash=hash_password("pw", hasher=FAST), roles=["approver", "auditor"]
            )
        },
        tokens=[WebTokenSettings(name="t", user="sec", sha256=token_digest("tt_sec"))],
    )
    with TestClient(create_app(runtime, settings), follow_redirects=False) as made:
        yield made


def test_secret_arguments_never_reach_a_page_or_the_api(
    runtime: Runtime, client: TestClient
) -> None:
    principal = runtime.policy.principal("olga")
    assert principal is not None
    call = ProposedCall(
        tool="vault.set_password",
        args={"account": "billing-bot", "new_password": SECRET},
        agent="keeper",
        principal=principal,
        run=RunState(id="run_vault"),
        call_id="call-1",
        why="rotating the password as asked",
    )
    call, decision = runtime.gate.propose(call)
    assert isinstance(decision, NeedsApproval)
    request = runtime.approvals.request(call, decision)
    assert runtime.approvals.get(request.id).args["new_password"] == SECRET  # stored for the call

    csrf = csrf_of(client.get("/login").text)
    client.post("/login", data={"username": "sec", "password": "pw", "csrf_token": csrf})
    pages = [
        client.get("/"),
        client.get(f"/approvals/{request.id}"),
        client.get("/audit"),
        client.get("/audit/export.jsonl"),
        client.get("/api/approvals", headers={"Authorization": "Bearer tt_sec"}),
        client.get(f"/api/approvals/{request.id}", headers={"Authorization": "Bearer tt_sec"}),
        client.get("/api/audit/events", headers={"Authorization": "Bearer tt_sec"}),
    ]
    for response in pages:
        assert response.status_code == 200, response.url
        assert SECRET not in response.text, response.url
    form = pages[1].text
    assert "billing-bot" in form and "[REDACTED]" in form
    assert 'name="arg.new_password"' not in form  # not editable, so never posted back
    assert 'name="arg.account"' in form


def test_a_secret_the_model_repeats_in_its_reason_is_hidden_in_the_inbox(
    runtime: Runtime, client: TestClient
) -> None:
    principal = runtime.policy.principal("olga")
    assert principal is not None
    call = ProposedCall(
        tool="vault.set_password",
        args={"account": "billing-bot", "new_password": SECRET},
        agent="keeper",
        principal=principal,
        run=RunState(id="run_vault"),
        call_id="call-2",
    )
    call, decision = runtime.gate.propose(call)
    assert isinstance(decision, NeedsApproval)
    request = runtime.approvals.request(
        dataclasses.replace(call, why=f"setting it to {SECRET}"), decision
    )
    token = {"Authorization": "Bearer tt_sec"}
    for response in (
        client.get(f"/api/approvals/{request.id}", headers=token),
        client.get("/api/approvals", headers=token),
    ):
        assert SECRET not in response.text
        assert "setting it to [REDACTED]" in response.text
