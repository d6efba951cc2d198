"""``tether policy check`` warns about a mail rule that checks some address fields;
``tether policy explain`` shows provenance, functions and the policy's classification."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tether.cli import app

POLICY = """\
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
tools:
  lib.post: {effect: egress, targets: [endpoint]}
agents:
  bot:
    may_act_for: [role:staff]
    tools:
      - tool: lib.post
      - id: mail
        tool: mail.send
        approval: never
        when: {when}
"""


def write(tmp_path: Path, when: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("{when}", when))
    return path


def test_check_warns_about_a_mail_rule_that_ignores_cc(tmp_path: Path) -> None:
    path = write(tmp_path, """'args.to.all(r, r.endsWith("@acme.example"))'""")
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output
    assert "but not cc, bcc, reply_to" in result.output
    assert f"{path}:" in result.output
    assert "1 classified by the policy" in result.output


def test_check_is_quiet_about_a_rule_on_recipients(tmp_path: Path) -> None:
    path = write(tmp_path, """'recipients.all(r, r.endsWith("@acme.example") || vouched(r))'""")
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_explain_shows_provenance_functions_and_classification(tmp_path: Path) -> None:
    path = write(tmp_path, """'recipients.all(r, vouched(r))'""")
    args = {"to": ["bob@partner.example"], "cc": ["eve@evil.example"], "subject": "s", "body": "b"}
    result = CliRunner().invoke(
        app,
        [
            "policy", "explain", str(path), "--agent", "bot", "--principal", "alice",
            "--tool", "mail.send", "--args", json.dumps(args), "--json",
            "--vouched", "task=bob@partner.example", "--seen", "mail.read=eve@evil.example",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["decision"] == "deny"
    assert "eve@evil.example" in data["reasons"][0]
    assert data["functions"] == ["vouched"]
    by_arg = {row["arg"]: row for row in data["provenance"]}
    assert by_arg["to"]["vouched"] and by_arg["to"]["sources"] == ["task"]
    assert not by_arg["cc"]["vouched"]
    assert by_arg["cc"]["sources"] == ["untrusted:mail.read"]
    post = CliRunner().invoke(
        app,
        [
            "policy", "explain", str(path), "--agent", "bot", "--principal", "alice",
            "--tool", "lib.post", "--args", '{"endpoint": "https://x.example/?q=1"}',
            "--seen", "mail.read=x",
        ],
    )  # fmt: skip
    assert post.exit_code == 0, post.output
    assert "needs_approval" in post.output
    assert "classified" in post.output
