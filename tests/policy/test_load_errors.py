"""Every class of policy error is reported at load time, with its line and what to do."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import BASE, TOOLS
from tether.errors import PolicyError, PolicyIssue
from tether.policy import load_policy, load_policy_text


def issues_of(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(textwrap.dedent(text), file="p.yaml", tools=TOOLS)
    return caught.value.issues


def only_issue(text: str) -> PolicyIssue:
    issues = issues_of(text)
    assert len(issues) == 1, issues
    return issues[0]


def with_agent(grants: str, *, agent_extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(grants), "      ")
    return (
        BASE
        + f"agents:\n  bot:\n    may_act_for: [role:agent-users]\n{agent_extra}    tools:\n{body}"
    )


def line_containing(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_malformed_yaml_names_the_line() -> None:
    issue = only_issue("version: 1\nagents:\n  bot: [unclosed\n  other: 1\n")
    assert issue.line == 4
    assert "not valid YAML" in issue.message


def test_empty_file() -> None:
    assert "empty" in only_issue("").message


def test_a_policy_is_a_mapping() -> None:
    assert "mapping" in only_issue("- version: 1\n").message


def test_missing_version() -> None:
    issue = only_issue("agents: {}\n")
    assert issue.message == "missing required key 'version'"


def test_unknown_key_lists_the_allowed_keys_and_line() -> None:
    text = with_agent("- tool: crm.find\n  wehn: args.name == 'x'\n")
    issue = only_issue(text)
    assert issue.line == line_containing(text, "wehn")
    assert "unknown key 'wehn'" in issue.message
    assert (
        "allowed here: approval, effect, id, limits, shadow, tool, unscoped, untrusted, when"
        in issue.message
    )


def test_unknown_top_level_key() -> None:
    issue = only_issue(BASE + "agnets: {}\n")
    assert "unknown key 'agnets'" in issue.message
    assert "agents" in issue.message


def test_duplicate_key_in_a_mapping() -> None:
    text = BASE + "agents: {}\nagents: {}\n"
    issue = only_issue(text)
    assert "appears twice" in issue.message
    assert issue.line == text.count("\n")


def test_cel_that_does_not_compile() -> None:
    text = with_agent("- tool: erp.refund\n  when: args.amount <= \n")
    issue = only_issue(text)
    assert issue.line == line_containing(text, "when:")
    assert "does not compile" in issue.message
    assert "column" in issue.message


def test_cel_with_an_unknown_variable() -> None:
    text = with_agent("- tool: erp.refund\n  when: argz.amount <= 10.0\n")
    issue = only_issue(text)
    assert issue.line == line_containing(text, "argz")
    assert "unknown variable argz" in issue.message
    assert "args, principal, run, resource" in issue.message


def test_comprehension_variables_are_not_unknown() -> None:
    text = with_agent("- tool: mail.send\n  when: args.to.all(r, r.endsWith('@a.example'))\n")
    policy = load_policy_text(text, tools=TOOLS)
    assert policy.agents["bot"].grants[0].when is not None


def test_grant_for_an_unknown_tool() -> None:
    text = with_agent("- tool: erp.refnud\n")
    issue = only_issue(text)
    assert issue.line == line_containing(text, "erp.refnud")
    assert "no known tool matches 'erp.refnud'" in issue.message
    assert "erp.refund" in issue.message


def test_wildcard_that_matches_nothing() -> None:
    assert "no known tool matches 'hr.*'" in only_issue(with_agent("- tool: hr.*\n")).message


def test_impossible_quorum() -> None:
    text = with_agent("- tool: erp.refund\n  approval: {approvers: [role:approvers], quorum: 3}\n")
    issue = only_issue(text)
    assert issue.line == line_containing(text, "quorum: 3")
    assert "quorum 3" in issue.message and "impossible" in issue.message


def test_quorum_that_the_requester_would_have_to_meet() -> None:
    # fiona and frank are the only approvers; if the agent acts for them, a quorum of 2
    # cannot be met because nobody approves their own request.
    text = BASE + textwrap.dedent(
        """\
        agents:
          bot:
            may_act_for: [role:approvers]
            tools:
              - tool: erp.refund
                approval: {approvers: [role:approvers], quorum: 2}
        """
    )
    issue = only_issue(text)
    assert "may not approve their own request" in issue.message


def test_zero_quorum_is_a_schema_error() -> None:
    text = with_agent("- tool: erp.refund\n  approval: {quorum: 0}\n")
    issue = only_issue(text)
    assert "quorum" in issue.message and "greater than or equal to 1" in issue.message


def test_default_approval_without_approvers() -> None:
    text = BASE.replace("defaults:\n  approval: {approvers: [role:approvers]}\n", "")
    text += "agents:\n  bot:\n    may_act_for: ['*']\n    tools:\n      - tool: erp.refund\n"
    issue = only_issue(text)
    assert "no approvers are named" in issue.message


def test_unknown_role_and_user_references() -> None:
    text = BASE + "agents:\n  bot:\n    may_act_for: [role:nobody, user:ghost]\n"
    messages = [issue.message for issue in issues_of(text)]
    assert any("unknown role 'nobody'" in m for m in messages)
    assert any("unknown user 'ghost'" in m for m in messages)


def test_malformed_principal_reference() -> None:
    text = BASE + "agents:\n  bot:\n    may_act_for: [support]\n"
    issue = only_issue(text)
    assert "may_act_for" in issue.message and "should match pattern" in issue.message


def test_duplicate_rule_ids() -> None:
    text = with_agent("- {id: r, tool: crm.find}\n- {id: r, tool: erp.refund, approval: never}\n")
    assert "rule id 'r' is used twice" in only_issue(text).message


def test_limit_without_window_and_bad_duration() -> None:
    text = with_agent(
        "- tool: crm.find\n  limits:\n    - {per: agent, count: 3}\n"
        "    - {per: run, count: 1, window: 1h}\n"
        "    - {per: principal, window: soon, count: 1}\n"
    )
    messages = [issue.message for issue in issues_of(text)]
    assert any("needs a `window`" in m for m in messages)
    assert any("per-run limit has no `window`" in m for m in messages)
    assert any("'soon' is not a duration" in m for m in messages)


def test_limit_needs_count_or_sum() -> None:
    text = with_agent("- tool: crm.find\n  limits:\n    - {per: run}\n")
    assert "either `count: N` or `sum: EXPR`" in only_issue(text).message


def test_toolset_that_cannot_be_imported(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\ntoolsets: [nowhere.module:tools]\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    (issue,) = caught.value.issues
    assert issue.line == 2
    assert "cannot load toolset 'nowhere.module:tools'" in issue.message


def test_toolset_reference_must_name_an_attribute(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\ntoolsets: [tether.demo]\n")
    with pytest.raises(PolicyError, match=r"must be written package\.module:attribute"):
        load_policy(path)


def test_grants_without_any_toolset(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\nagents:\n  bot:\n    may_act_for: ['*']\n    tools: [{tool: crm.find}]\n"
    )
    with pytest.raises(PolicyError, match="names no toolsets"):
        load_policy(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_every_problem_is_reported_at_once() -> None:
    text = with_agent("- tool: erp.refnud\n- tool: crm.find\n  when: argz == 1\n")
    assert len(issues_of(text)) == 2


def test_error_text_names_file_and_line() -> None:
    text = with_agent("- tool: erp.refnud\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, file="policies/bot.yaml", tools=TOOLS)
    line = line_containing(text, "erp.refnud")
    assert f"policies/bot.yaml:{line}: no known tool matches" in str(caught.value)


def test_policy_version_is_the_hash_of_the_content() -> None:
    text = with_agent("- tool: crm.find\n")
    first = load_policy_text(text, tools=TOOLS)
    again = load_policy_text(text, tools=TOOLS)
    changed = load_policy_text(text + "\n# a comment\n", tools=TOOLS)
    assert first.version == again.version
    assert first.version != changed.version
    assert first.version.startswith("sha256:")
