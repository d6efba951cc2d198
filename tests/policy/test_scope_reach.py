"""A scoped agent's grants reach only what its scope can check (issue 15, item 7), and
the support desk's tools take one plain address per recipient (item 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import EXAMPLES
from tests.helpers import policy
from tether.calls import ProposedCall, RunState
from tether.cli import app
from tether.demo import DESK_ENV, create_desk, desk_tools
from tether.gate import Allow, Deny, Gate, evaluate
from tether.policy import load_policy

EXAMPLE = EXAMPLES / "support-desk" / "policy.yaml"
SCOPED = """
bot:
  may_act_for: [role:agent-users]
  scope: resource.team == principal.attributes.team
  tools:
    - tool: crm.find
    - {tool: crm.update, unscoped: every team edits addresses}
    - tool: crm.delete
"""


def test_policy_load_warns_about_grants_the_scope_cannot_check() -> None:
    loaded = policy(SCOPED)
    messages = [warning.message for warning in loaded.warnings]
    assert len(messages) == 3
    blind, turned_off, no_locate = messages
    assert "crm.find cannot locate its target" in blind
    assert "every call is refused" in blind
    assert "`unscoped: WHY`" in blind
    assert "turns agent bot's data scope off for crm.update" in turned_off
    assert "crm.delete cannot locate its target" in no_locate  # a resource, no `locate`
    lines = [warning.line for warning in loaded.warnings]
    assert lines == sorted(lines)
    assert len(set(lines)) == 3  # each at its own grant


def test_policy_check_prints_the_warnings_and_still_passes(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    unscoped = "        unscoped: the desk's shared inbox belongs to no one customer\n"
    assert unscoped in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(unscoped, ""))
    result = CliRunner().invoke(app, ["policy", "check", str(path)], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert f"warning {path}:" in result.output
    assert "email.read_inbox cannot locate its target" in result.output


def test_the_shipped_example_has_no_warnings() -> None:
    assert load_policy(EXAMPLE).warnings == []


# --- the support desk: a us-team user voids an emea customer's refund -------------------


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "desk.db"
    create_desk(path)
    monkeypatch.setenv(DESK_ENV, str(path))
    return path


def desk_call(tool: str, args: dict[str, Any], user: str) -> ProposedCall:
    loaded = load_policy(EXAMPLE)
    principal = loaded.principal(user)
    assert principal is not None
    return ProposedCall(
        tool=tool,
        args=args,
        agent="support-desk",
        principal=principal,
        run=RunState(id="run-1"),
        call_id="call-1",
    )


def decide_at_the_desk(tool: str, args: dict[str, Any], user: str) -> Any:
    loaded = load_policy(EXAMPLE)
    gate = Gate(loaded)
    located = gate.locate(desk_call(tool, args, user))
    return evaluate(loaded, located).decision


def refund_acme(desk: Path) -> int:
    """A credit note on Acme's (emea) invoice 101, as alice's refund left it."""
    import sqlite3

    with sqlite3.connect(desk) as db:
        cursor = db.execute(
            "INSERT INTO credit_note (invoice_id, amount, reason) VALUES (101, 50, 'dup')"
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def test_a_us_user_may_not_void_an_emea_customers_refund(desk: Path) -> None:
    note = refund_acme(desk)
    decision = decide_at_the_desk("erp.void_credit_note", {"credit_note_id": note}, "bob")
    assert isinstance(decision, Deny)
    assert decision.rules == ("support-desk.scope",)
    assert "outside the agent's data scope" in decision.reasons[0]


def test_the_emea_user_may(desk: Path) -> None:
    note = refund_acme(desk)
    decision = decide_at_the_desk("erp.void_credit_note", {"credit_note_id": note}, "alice")
    assert isinstance(decision, Allow)
    assert "support-desk.scope" in decision.rules


def test_voiding_a_credit_note_that_does_not_exist_is_refused(desk: Path) -> None:
    decision = decide_at_the_desk("erp.void_credit_note", {"credit_note_id": 999}, "alice")
    assert isinstance(decision, Deny)
    assert "was not identified" in decision.reasons[0]


# --- item 9: one plain address per recipient ---------------------------------------------

SMUGGLED = [
    "audit@evil.example, x@acme.example",
    "audit@evil.example,x@acme.example",
    "audit@evil.example; x@acme.example",
    "audit@evil.example x@acme.example",
    "audit@evil.example\nBcc: x@acme.example",
    "Audit <audit@evil.example> x@acme.example",
    '"x@acme.example" <audit@evil.example>, x@acme.example',
    "audit@evil.example%x@acme.example@acme.example",
]


@pytest.mark.parametrize("recipient", SMUGGLED)
def test_a_crafted_recipient_string_is_refused_before_any_condition(
    desk: Path, recipient: str
) -> None:
    args = {"to": [recipient], "subject": "Hi", "body": "Hello"}
    decision = decide_at_the_desk("email.send", args, "alice")
    assert isinstance(decision, Deny)
    assert decision.rules == ("email.send.schema",)
    assert "not a plain email address" in decision.reasons[0]


def test_plain_customer_addresses_still_go_out(desk: Path) -> None:
    args = {"to": ["billing@acme.example", "ap@initech.example"], "subject": "Hi", "body": "."}
    assert isinstance(decide_at_the_desk("email.send", args, "alice"), Allow)


def test_the_desk_tool_and_the_email_connector_check_addresses_alike() -> None:
    from tether.connectors.email import toolset

    connector = toolset({"smtp_host": "127.0.0.1", "sender": "desk@acme.example"})
    for tools in (desk_tools, connector):
        send = tools.get("email.send")
        with pytest.raises(Exception, match="not a plain email address"):
            send.validate_args({"to": [SMUGGLED[0]], "subject": "Hi", "body": "."})


def test_an_approver_cannot_edit_a_crafted_recipient_in(desk: Path, tmp_path: Path) -> None:
    from tether.approvals import Approvals, EditRefused
    from tether.db import connect
    from tether.gate import NeedsApproval

    loaded = load_policy(EXAMPLE)
    database = f"sqlite:///{tmp_path / 'tether.db'}"
    gate = Gate(loaded, database=database)
    approvals = Approvals(gate, connect(database))
    proposed = desk_call(
        "email.send", {"to": ["billing@acme.example"], "subject": "Hi", "body": "."}, "alice"
    )
    proposed = ProposedCall(**{**proposed.__dict__, "run": RunState(id="run-1", untrusted=True)})
    located, decision = gate.propose(proposed)
    assert isinstance(decision, NeedsApproval)  # the run read an inbound email
    request = approvals.request(located, decision)
    with pytest.raises(EditRefused, match="not a plain email address"):
        approvals.approve(request.id, by="fiona", edit={"to": [SMUGGLED[0]]})
    assert approvals.store.get(request.id).status == "pending"
    approvals.engine.dispose()
    gate.close()
