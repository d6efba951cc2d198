"""``tether policy check | explain | test | schema`` on the shipped example and broken copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tether.cli import app
from tether.policy import policy_json_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "support-desk" / "policy.yaml"
runner = CliRunner()


def tether(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.output


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text()
    assert old in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of_change(old: str, needle: str) -> int:
    """The line where ``needle`` stands once ``old`` is replaced (lines do not shift)."""
    text = EXAMPLE.read_text()
    start = text.index(old)
    return text[:start].count("\n") + 1 + needle.count("\n")


def test_check_accepts_the_shipped_example() -> None:
    code, output = tether("policy", "check", str(EXAMPLE))
    assert code == 0, output
    assert "ok" in output and "2 agents" in output


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (
            "when: args.amount <= 1000.0\n        approval",
            "when: args.amount <=\n        approval",
            "",
            "does not compile",
        ),
        (
            "tool: erp.list_invoices\n      - id: inbox",
            "tool: erp.list_invoice\n      - id: inbox",
            "",
            "no known tool matches",
        ),
        ("quorum: 2", "quorum: 5", "quorum: 5", "impossible"),
        (
            "untrusted: needs_approval    # …unless",
            "untrustd: needs_approval",
            "untrustd",
            "unknown key 'untrustd'",
        ),
        (
            "scope: resource.team",
            "scope: ressource.team",
            "ressource",
            "unknown variable ressource",
        ),
    ],
)
def test_check_reports_each_broken_copy_with_its_line(
    tmp_path: Path, old: str, new: str, needle: str, message: str
) -> None:
    path = broken_copy(tmp_path, old, new)
    code, output = tether("policy", "check", str(path))
    assert code == 1
    assert f"{path}:{line_of_change(old, needle)}:" in output
    assert message in output


def test_check_reports_malformed_yaml(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, "agents:\n", "agents: [\n")
    code, output = tether("policy", "check", str(path))
    assert code == 1
    assert "not valid YAML" in output


def explain(*extra: str) -> dict[str, object]:
    code, output = tether(
        "policy",
        "explain",
        str(EXAMPLE),
        "--agent",
        "support-desk",
        "--principal",
        "alice",
        *extra,
        "--json",
    )
    assert code == 0, output
    data: dict[str, object] = json.loads(output)
    return data


def test_explain_an_allowed_call() -> None:
    data = explain("--tool", "crm.find_party", "--args", '{"name": "Acme"}')
    assert data["decision"] == "allow"
    assert data["rules"] == ["lookups", "role:support"]
    assert isinstance(data["reasons"], list) and data["reasons"]


def test_explain_a_denied_call() -> None:
    data = explain(
        "--tool", "email.send", "--args", '{"to": ["x@evil.example"], "subject": "s", "body": "b"}'
    )
    assert data["decision"] == "deny"
    assert data["rules"] == ["customer-mail.when"]
    assert "model_message" in data


def test_explain_a_call_that_needs_approval() -> None:
    data = explain(
        "--tool",
        "erp.create_credit_note",
        "--resource",
        '{"team": "emea"}',
        "--args",
        '{"invoice_id": 101, "amount": 500, "reason": "outage"}',
    )
    assert data["decision"] == "needs_approval"
    assert "refund.approval" in data["rules"]  # type: ignore[operator]
    assert data["approval"]["approvers"] == ["role:finance-lead"]  # type: ignore[index]
    assert [limit["rule"] for limit in data["limits"]] == [  # type: ignore[attr-defined]
        "refunds-per-run",
        "refund-budget-per-day",
    ]


def test_explain_in_a_tainted_run() -> None:
    data = explain(
        "--tool",
        "email.send",
        "--untrusted",
        "--args",
        '{"to": ["billing@acme.example"], "subject": "s", "body": "b"}',
    )
    assert data["decision"] == "needs_approval"


def test_explain_human_output() -> None:
    code, output = tether(
        "policy",
        "explain",
        str(EXAMPLE),
        "--agent",
        "support-desk",
        "--principal",
        "alice",
        "--tool",
        "crm.delete_party",
        "--args",
        '{"party_id": 1}',
    )
    assert code == 0
    assert "deny" in output and "default-deny" in output and "model is told" in output


def test_explain_rejects_bad_json_and_unknown_principals() -> None:
    code, output = tether(
        "policy",
        "explain",
        str(EXAMPLE),
        "--agent",
        "support-desk",
        "--principal",
        "alice",
        "--tool",
        "crm.find_party",
        "--args",
        "{name",
    )
    assert code == 2 and "not valid JSON" in output
    code, output = tether(
        "policy",
        "explain",
        str(EXAMPLE),
        "--agent",
        "support-desk",
        "--principal",
        "nobody",
        "--tool",
        "crm.find_party",
    )
    assert code == 2 and "unknown principal 'nobody'" in output


def test_policy_tests_of_the_example_pass() -> None:
    code, output = tether("policy", "test", str(ROOT / "examples"))
    assert code == 0, output
    assert "0 failed" in output


def test_a_failing_policy_test_fails_the_command(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "policy.yaml")
    tests = (EXAMPLE.parent / "policy_test.yaml").read_text()
    tests = tests.replace(
        'args: {to: [audit@evil.example], subject: Customer list, body: "..."}\n    expect: deny',
        'args: {to: [audit@evil.example], subject: Customer list, body: "..."}\n    expect: allow',
    )
    (tmp_path / "policy_test.yaml").write_text(tests)
    code, output = tether("policy", "test", str(tmp_path))
    assert code == 1
    assert "FAIL mail to a stranger is refused" in output
    assert "expected allow, got deny" in output
    assert "1 failed" in output


def test_a_malformed_policy_test_file_is_an_error(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "policy.yaml")
    (tmp_path / "bad_test.yaml").write_text(
        "policy: policy.yaml\ntests:\n  - name: x\n    expect: maybe\n"
    )
    code, output = tether("policy", "test", str(tmp_path))
    assert code == 1
    assert "bad_test.yaml:3" in output


def test_no_policy_tests_found(tmp_path: Path) -> None:
    code, output = tether("policy", "test", str(tmp_path))
    assert code == 1 and "no policy tests" in output


def test_shipped_schema_is_the_one_the_loader_uses() -> None:
    shipped = ROOT / "src" / "tether" / "policy" / "policy.schema.json"
    assert json.loads(shipped.read_text()) == policy_json_schema()
    code, output = tether("policy", "schema")
    assert code == 0 and json.loads(output) == policy_json_schema()


def test_schema_validates_the_example_with_a_json_schema_validator() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = policy_json_schema()
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "agnets": {}}, schema)
