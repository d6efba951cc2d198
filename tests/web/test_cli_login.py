"""The CLI authenticates: `tether login` keeps a token only its user can read, the
decision commands act through the console's API as that user; local decisions only
where tether.yaml says `operators: local`, recorded as local, refused by a rule that
demands an authenticated approver; names that belong to no user refused everywhere.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.web.served import SERVED_PASSWORDS, Served, serve
from tether.approvals import ApprovalRequest
from tether.audit import StoredEvent
from tether.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, desk: Path) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("served")) as made:
        yield made


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home" / "tether" / "credentials.json"
    monkeypatch.setenv("TETHER_CREDENTIALS", str(path))
    return path


def tether(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": "250"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def login(served: Served, name: str) -> None:
    code, output = tether(
        "login", "--console", served.url, "--user", name, "--password-stdin",
        stdin=SERVED_PASSWORDS[name] + "\n",
    )  # fmt: skip
    assert code == 0, output


def parked(served: Served, agent: str = "support-desk") -> ApprovalRequest:
    rt = served.runtime
    principal = "alice" if agent == "support-desk" else "grace"
    run = rt.start(agent, "Acme was charged twice", principal=principal)
    assert rt.wait(run.id).status == "waiting_approval"
    (request,) = rt.approvals.find(run_id=run.id)
    return request


def decided_events(served: Served, request_id: str) -> list[StoredEvent]:
    return [
        stored
        for stored in served.runtime.audit.events()
        if stored.event.type in ("approval.decided", "approval.refused")
        and (stored.event.approval or {}).get("request_id") == request_id
    ]


def test_login_keeps_a_private_token_and_decisions_go_through_the_console(
    served: Served, credentials: Path
) -> None:
    login(served, "fiona")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    request = parked(served)
    code, output = tether("approvals", "approve", request.id, "--comment", "duplicate")
    assert code == 0, output
    assert f"{request.id} approved by fiona through the console at {served.url}" in output
    (event,) = [e.event for e in decided_events(served, request.id)]
    assert event.actor is not None
    assert event.actor["surface"] == "cli" and event.actor["method"] == "password"
    assert event.actor["assurance"] == "authenticated"
    assert str(event.actor["credential"]).startswith("tok_")


def test_an_audit_query_tells_a_cli_decision_from_a_console_one(
    served: Served, credentials: Path
) -> None:
    import httpx

    login(served, "fiona")
    by_cli = parked(served)
    assert tether("approvals", "approve", by_cli.id)[0] == 0
    by_console = parked(served)
    with httpx.Client(base_url=served.url) as browser:
        page = browser.get("/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        browser.post(
            "/login",
            data={"username": "grace", "password": SERVED_PASSWORDS["grace"], "csrf_token": csrf},
        )
        detail = browser.get(f"/approvals/{by_console.id}")
        csrf = detail.text.split('name="csrf_token" value="')[1].split('"')[0]
        done = browser.post(
            f"/approvals/{by_console.id}/approve",
            data={"csrf_token": csrf, "args_hash": by_console.args_hash, "comment": "ok"},
        )
        assert done.status_code == 303, done.text
        run_page = browser.get(f"/runs/{by_console.run_id}").text
        assert 'by grace</span> <small class="how">(web, password)</small>' in run_page
    # The exported trail (what an auditor queries) says which decision came from where.
    database = served.runtime.database_url
    code, output = tether("audit", "export", "--format", "jsonl", "--db", database)
    assert code == 0, output
    records = [json.loads(line)["body"] for line in output.splitlines() if line.startswith("{")]
    how = {
        (record["approval"] or {}).get("request_id"): record["actor"]
        for record in records
        if record["type"] == "approval.decided"
    }
    assert (how[by_cli.id]["surface"], how[by_cli.id]["method"]) == ("cli", "password")
    assert (how[by_console.id]["surface"], how[by_console.id]["method"]) == ("web", "password")


def test_as_another_user_while_logged_in_is_refused(served: Served, credentials: Path) -> None:
    login(served, "fiona")
    request = parked(served)
    code, output = tether("approvals", "approve", request.id, "--as", "frank")
    assert code == 2 and "logged in as fiona; --as frank is refused" in output
    assert served.runtime.approvals.get(request.id).status == "pending"


def test_a_credentials_file_others_can_read_is_refused(served: Served, credentials: Path) -> None:
    login(served, "fiona")
    credentials.chmod(0o644)
    request = parked(served)
    code, output = tether("approvals", "approve", request.id)
    assert code == 2 and "can be read by others" in output
    assert served.runtime.approvals.get(request.id).status == "pending"


def test_without_a_login_the_cli_refuses_unless_the_deployment_is_local(
    served: Served, credentials: Path
) -> None:
    request = parked(served, agent="billing")
    code, output = tether(
        "approvals", "approve", request.id, "--as", "fiona", "-c", str(served.config)
    )
    assert code == 2 and "log in first" in output and "operators: local" in output
    code, output = tether("stop", "--all", "--as", "olga", "-c", str(served.config))
    assert code == 2 and "log in first" in output
    assert served.runtime.approvals.get(request.id).status == "pending"


def test_local_decisions_are_recorded_as_local(served: Served, credentials: Path) -> None:
    request = parked(served, agent="billing")  # billing's deletes need no authenticated approver
    local = str(served.local_config)
    code, output = tether(
        "approvals", "reject", request.id, "--as", "fiona", "--comment", "no", "-c", local
    )
    assert code == 0, output
    assert "through the database directly (operators: local; no login)" in output
    (event,) = [e.event for e in decided_events(served, request.id)]
    assert event.actor == {
        "account": "fiona", "surface": "cli", "method": "local", "assurance": "local",
    }  # fmt: skip


def test_a_rule_demanding_an_authenticated_approver_refuses_a_local_decision(
    served: Served, credentials: Path
) -> None:
    request = parked(served)  # refunds: assurance: authenticated
    local = str(served.local_config)
    code, output = tether("approvals", "approve", request.id, "--as", "fiona", "-c", local)
    assert code == 1 and "needs an authenticated approver" in output
    assert served.runtime.approvals.get(request.id).status == "pending"
    (refused,) = [e.event for e in decided_events(served, request.id)]
    assert refused.approval and refused.approval["refusal"] == "assurance_required"
    login(served, "fiona")
    code, output = tether("approvals", "approve", request.id)
    assert code == 0 and "approved by fiona" in output


@pytest.mark.parametrize(
    "command",
    [
        ["approvals", "approve", "{request}"],
        ["approvals", "reject", "{request}", "--comment", "no"],
        ["stop", "--all", "--lift"],
        ["stop", "--agent", "billing"],
        ["runs", "cancel", "{run}"],
        ["runs", "undo", "{run}", "call-1"],
    ],
)
def test_a_name_that_belongs_to_no_user_is_refused_for_every_decision(
    served: Served, credentials: Path, command: list[str]
) -> None:
    request = parked(served, agent="billing")
    args = [part.format(request=request.id, run=request.run_id) for part in command]
    before = len(list(served.runtime.audit.events()))
    code, output = tether(*args, "--as", "mallory", "-c", str(served.local_config))
    assert code == 1, output
    assert "'mallory' is not a user" in output
    new = list(served.runtime.audit.events())[before:]
    refusals = [e.event for e in new if e.event.type in ("access.refused", "approval.refused")]
    assert refusals and all((e.actor or {}).get("account") == "mallory" for e in refusals)
    assert not [e for e in new if e.event.type in ("agent.resumed", "agent.stopped")]
    assert served.runtime.approvals.get(request.id).status == "pending"
    assert served.runtime.store.get(request.run_id).status == "waiting_approval"


def test_operators_stop_and_lift_through_the_console(served: Served, credentials: Path) -> None:
    login(served, "olga")
    code, output = tether("stop", "--agent", "billing", "--reason", "incident 4711")
    assert code == 0 and "by olga" in output, output
    assert served.runtime.store.stopped("billing")
    code, output = tether("stop", "--agent", "billing", "--lift")
    assert code == 0 and "lifted 1 stop(s) for billing by olga" in output
    stopped = [e.event for e in served.runtime.audit.events(type="agent.stopped")][-1]
    assert stopped.actor and stopped.actor["surface"] == "cli"
    assert stopped.actor["method"] == "password"


def test_tokens_are_listed_revoked_and_logout_ends_the_login(
    served: Served, credentials: Path
) -> None:
    login(served, "bob")
    code, output = tether("tokens", "list", "--json")
    assert code == 0, output
    assert "(tether login)" in output and '"account": "bob"' in output
    code, output = tether("logout")
    assert code == 0 and "logged out" in output and not credentials.exists()
    code, output = tether("tokens", "list")
    assert code == 2 and "not logged in" in output


def test_a_revoked_login_is_refused_with_its_reason(served: Served, credentials: Path) -> None:
    login(served, "frank")
    token_id = json.loads(credentials.read_text())["token_id"]
    assert tether("tokens", "revoke", token_id)[0] == 0
    request = parked(served)
    code, output = tether("approvals", "approve", request.id)
    assert code == 1 and "revoked by frank" in output and "tether login" in output
    assert served.runtime.approvals.get(request.id).status == "pending"


def test_a_wrong_password_is_refused(served: Served, credentials: Path) -> None:
    code, output = tether(
        "login", "--console", served.url, "--user", "vic", "--password-stdin", stdin="nope\n"
    )
    assert code == 1 and "unknown user or wrong password" in output
    assert not credentials.exists()
