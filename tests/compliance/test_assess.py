"""`tether assess`: the demo company's tools classified, a starter policy that `tether
policy check` accepts and that decides as it says; process descriptions; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tether.cli import app
from tether.compliance import assess

runner = CliRunner()


def explain(policy: Path, config: Path, tool: str, *extra: str) -> str:
    result = runner.invoke(
        app,
        [
            "policy", "explain", str(policy), "-c", str(config), "--agent", "support-desk",
            "--principal", "staff-1", "--tool", tool, "--json", *extra,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output)["decision"])


def test_the_demo_company_needs_an_agent_and_gets_a_policy_that_checks(
    demo_config: Path, tmp_path: Path
) -> None:
    starter = tmp_path / "starter.yaml"
    result = runner.invoke(app, ["assess", str(demo_config), "--out", str(starter)])
    assert result.exit_code == 0, result.output
    assert "An agent is needed" in result.output
    assert f"tether policy check {starter} --config {demo_config}" in result.output
    checked = runner.invoke(app, ["policy", "check", str(starter), "-c", str(demo_config)])
    assert checked.exit_code == 0, checked.output
    assert "1 agents, 15 grants" in checked.output

    found = {risk.tool: risk for risk in assess(demo_config).tools}
    credit = found["erp.issue_credit_note"]
    assert (credit.effect, credit.reversibility, credit.data, credit.risk) == (
        "irreversible",
        "irreversible",
        "financial",
        "critical",
    )
    assert credit.control == "approval_by_two"
    mail = found["email.send"]
    assert (mail.reach, mail.risk, mail.control) == ("sends_outside", "high", "approval")
    assert found["email.read_message"].reach == "reads_outside"
    assert found["crm.update_party"].reversed_by == "crm.update_party"
    assert found["crm.update_party"].control == "allow_with_limits"
    assert found["erp.list_products"].risk == "low"
    assert found["crm.read_party"].data == "personal"

    # The policy decides as the assessment says.
    assert explain(starter, demo_config, "crm.find_parties", "--args", '{"query": "x"}') == "allow"
    assert explain(starter, demo_config, "erp.list_invoices") == "allow"
    credit_args = ("--args", '{"invoice_id": 5}')
    assert explain(starter, demo_config, "erp.issue_credit_note", *credit_args) == "needs_approval"
    mail_args = ("--args", '{"to": ["a@b.example"], "subject": "s", "body": "b"}')
    assert explain(starter, demo_config, "email.send", *mail_args) == "needs_approval"
    party = ("--args", '{"party_id": 1, "name": "Acme"}')
    assert explain(starter, demo_config, "crm.update_party", *party) == "allow"
    assert explain(starter, demo_config, "crm.update_party", *party, "--untrusted") == (
        "needs_approval"
    )


def test_json_output_carries_every_tool_and_the_policy(demo_config: Path) -> None:
    result = runner.invoke(app, ["assess", str(demo_config), "--json", "--agent", "desk"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["needs_agent"] is True and data["agent"] == "desk"
    assert len(data["tools"]) == 15
    assert "  desk:" in data["policy"]
    assert {t["risk"] for t in data["tools"]} == {"low", "medium", "high", "critical"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_read_only_process_needs_no_agent(tmp_path: Path) -> None:
    process = write(
        tmp_path,
        "faq.yaml",
        "process: Answer product questions\n"
        "steps:\n"
        "  - {name: search the catalogue, system: erp}\n"
        "  - {name: read the manual, system: docs, outside_content: true}\n",
    )
    found = assess(process)
    assert found.needs_agent is False
    assert "read-only assistant" in found.verdict
    assert [r.control for r in found.tools] == ["allow", "allow"]
    result = runner.invoke(app, ["assess", str(process)])
    assert result.exit_code == 0, result.output
    assert "read-only assistant" in result.output
    assert "erp.search_the_catalogue" in result.output


def test_a_described_process_gets_approvals_where_people_should_confirm(tmp_path: Path) -> None:
    process = write(
        tmp_path,
        "refunds.yaml",
        "process: Refund duplicate charges\n"
        "steps:\n"
        "  - {name: find the customer, system: crm, data: personal}\n"
        "  - {name: note the case, system: crm, changes: true}\n"
        "  - name: credit the invoice\n"
        "    system: erp\n"
        "    changes: true\n"
        "    reversible: false\n"
        "    data: financial\n"
        "  - {name: tell the customer, system: email, reaches_outside: true, data: personal}\n",
    )
    found = {risk.tool: risk for risk in assess(process).tools}
    assert found["crm.find_the_customer"].control == "allow"
    assert found["crm.note_the_case"].control == "allow_with_limits"
    assert found["erp.credit_the_invoice"].risk == "critical"
    assert found["erp.credit_the_invoice"].control == "approval_by_two"
    assert found["email.tell_the_customer"].effect == "communicate"
    assert found["email.tell_the_customer"].control == "approval"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("process: x\nsteps: []\n", "not a valid process description"),
        ("process: x\nsteps:\n  - {name: a, system: crm, deletes: true}\n", "deletes"),
        ("process: x\nsteps:\n  - {name: a b, system: crm}\n  - {name: a-b, system: crm}\n",
         "two steps map to the same tool crm.a_b"),
        ("process: x\nsteps:\n  - {name: a, system: 'c r m'}\n", "system"),
    ],
)  # fmt: skip
def test_bad_process_files_get_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    process = write(tmp_path, "bad.yaml", text)
    result = runner.invoke(app, ["assess", str(process), "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "p.yaml").exists()  # nothing half-written


def test_a_missing_file_or_a_config_without_tools(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["assess", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert "not found" in missing.output
    bare = write(tmp_path, "tether.yaml", "policy: p.yaml\nagents: [a.yaml]\n")
    result = runner.invoke(app, ["assess", str(bare)])
    assert result.exit_code == 1
    assert "configures no connectors and its policy names no toolsets" in result.output


def test_a_config_whose_tools_come_from_the_policys_toolsets(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "support-desk" / "tether.yaml"
    starter = tmp_path / "starter.yaml"
    result = runner.invoke(app, ["assess", str(example), "--out", str(starter)])
    assert result.exit_code == 0, result.output
    assert 'toolsets: ["tether.demo:desk_tools"]' in starter.read_text()
    checked = runner.invoke(app, ["policy", "check", str(starter), "-c", str(example)])
    assert checked.exit_code == 0, checked.output
    found = {risk.tool: risk for risk in assess(example).tools}
    assert found["erp.create_credit_note"].reversed_by == "erp.void_credit_note"
    assert found["crm.delete_party"].control == "approval"


def test_a_described_step_is_declared_for_the_policy_but_never_runs() -> None:
    from tether.compliance._assess import _described_step
    from tether.compliance._process import StepSpec
    from tether.errors import ToolCallError

    step = _described_step(StepSpec(name="credit the invoice", system="erp", changes=True))
    assert step.name == "erp.credit_the_invoice"
    with pytest.raises(ToolCallError, match="add the connector that provides it"):
        step.function()
