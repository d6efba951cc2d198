"""Bad scenarios are refused before anything runs, each problem with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.evals.conftest import ROOT, WriteScenario
from tether.cli import app
from tether.evals import ScenarioError, load_suite

GOOD = """\
agent: support-desk
principal: alice
task: Look Acme up.
model:
  turns:
    - calls: [{tool: crm.find_party, args: {name: Acme}}]
    - text: Found.
expect:
  actions:
    calls:
      - {tool: crm.find_party, args: {name: Acme}}
"""


def problems(path: Path) -> list[tuple[int | None, str]]:
    with pytest.raises(ScenarioError) as caught:
        load_suite(path)
    assert all(issue.file == str(path) for issue in caught.value.issues)
    return [(issue.line, issue.message) for issue in caught.value.issues]


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def test_the_good_scenario_loads(write_scenario: WriteScenario) -> None:
    suite = load_suite(write_scenario(GOOD))
    assert [scenario.id for scenario in suite.scenarios] == ["scenario"]


def test_unknown_key_names_the_key_and_its_line(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("  actions:", "  acshuns:"))
    found = problems(path)
    allowed = "actions, approvals, denied, end_state, forbidden, output, status"
    assert found == [(line_of(path, "acshuns"), f"unknown key 'acshuns'; allowed here: {allowed}")]


def test_missing_required_key(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("task: Look Acme up.\n", ""))
    assert problems(path) == [(1, "missing required key 'task'")]


def test_wrong_type(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        GOOD.replace("    calls:\n      - {tool", "    calls: 3\n    x:\n      - {tool")
    )
    (line, message), *_ = problems(path)
    assert line == line_of(path, "calls: 3") and "calls" in message


def test_invalid_yaml(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("task: Look Acme up.", "task: [unclosed"))
    ((line, message),) = problems(path)
    assert line is not None and line >= line_of(path, "[unclosed") and "not valid YAML" in message


def test_empty_file(write_scenario: WriteScenario) -> None:
    path = write_scenario("", config=False)
    assert problems(path) == [
        (None, "the file is empty; a scenario has at least agent, principal, task")
    ]


def test_unknown_tool_in_an_expectation(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        GOOD.replace(
            "- {tool: crm.find_party, args: {name: Acme}}\n", "- {tool: crm.find_partey}\n"
        )
    )
    ((line, message),) = problems(path)
    assert line == line_of(path, "crm.find_partey")
    assert message.startswith("unknown tool 'crm.find_partey'; known tools: crm.delete_party")


def test_unknown_tool_in_a_scripted_turn(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("calls: [{tool: crm.find_party", "calls: [{tool: crm.nope"))
    ((line, message),) = problems(path)
    assert line == line_of(path, "crm.nope") and "unknown tool 'crm.nope'" in message


def test_unknown_agent(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("agent: support-desk", "agent: helpdesk"))
    ((line, message),) = problems(path)
    assert line == line_of(path, "agent: helpdesk")
    assert message == "unknown agent 'helpdesk'; agents: billing, support-desk"


def test_principal_the_agent_may_not_act_for(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("principal: alice", "principal: sam"))
    assert problems(path) == [
        (line_of(path, "principal: sam"), "agent support-desk may not act for sam")
    ]


def test_unknown_principal(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("principal: alice", "principal: mallory"))
    ((line, message),) = problems(path)
    assert line == line_of(path, "mallory") and message.startswith("unknown principal 'mallory'")


def test_invalid_regex(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        GOOD.replace("args: {name: Acme}}\n", "args: {name: {regex: '(acme'}}}\n")
    )
    ((line, message),) = problems(path)
    assert line == line_of(path, "(acme")
    assert "invalid regular expression '(acme'" in message


def test_range_that_cannot_match(write_scenario: WriteScenario) -> None:
    forbidden = "    - tool: erp.create_credit_note\n      args: {amount: {min: 500, max: 100}}\n"
    text = GOOD + "  forbidden:\n" + forbidden
    path = write_scenario(text)
    ((line, message),) = problems(path)
    assert line == line_of(path, "min: 500")
    assert "range can never match: min 500 > max 100" in message


def test_times_that_cannot_match(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("args: {name: Acme}}\n", "times: {min: 3, max: 1}}\n"))
    ((line, message),) = problems(path)
    assert line == line_of(path, "min: 3") and "times can never match" in message


def test_not_a_matcher(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        GOOD.replace(
            "- {tool: crm.find_party, args: {name: Acme}}\n",
            "- {tool: crm.find_party, args: {name: {starts: Ac}}}\n",
        )
    )
    ((line, message),) = problems(path)
    assert line == line_of(path, "starts") and "not a matcher" in message


def test_model_with_two_sources(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD.replace("model:\n", "model:\n  name: openai-chat:gpt-4o\n"))
    ((line, message),) = problems(path)
    assert (
        line == line_of(path, "model:") and "exactly one of `turns`, `script` or `name`" in message
    )


def test_approval_without_approver(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        GOOD + "  approvals:\n    - {tool: erp.create_credit_note, answer: approve}\n"
    )
    ((line, message),) = problems(path)
    assert line == line_of(path, "answer: approve") and "`as: USER`" in message


def test_unknown_approver(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD + "  approvals:\n    - {tool: erp.create_credit_note, as: zed}\n")
    ((line, message),) = problems(path)
    assert line == line_of(path, "as: zed") and message.startswith("unknown approver 'zed'")


def test_missing_script_file(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        GOOD.replace("model:\n  turns:\n", "model:\n  script: nowhere.yaml\n  x:\n").replace(
            "  x:\n    - calls: [{tool: crm.find_party, args: {name: Acme}}]\n    - text: Found.\n",
            "",
        )
    )
    ((line, message),) = problems(path)
    assert line == line_of(path, "nowhere.yaml") and "cannot read scripted model" in message


def test_no_configuration_found(tmp_path: Path) -> None:
    path = tmp_path / "alone.yaml"
    path.write_text(GOOD)
    ((line, message),) = problems(path)
    assert line == 1 and message.startswith("no tether configuration found")


def test_duplicate_ids_across_files(write_scenario: WriteScenario) -> None:
    first = write_scenario("id: same\n" + GOOD, "a.yaml")
    second = write_scenario("id: same\n" + GOOD, "b.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_suite(first.parent)
    ((issue),) = caught.value.issues
    assert issue.file == str(second) and f"also used by {first}" in issue.message


def test_every_problem_of_every_file_is_reported(write_scenario: WriteScenario) -> None:
    write_scenario(GOOD.replace("agent: support-desk", "agent: nobody"), "a.yaml")
    write_scenario(GOOD.replace("{name: Acme}}\n", "{name: {regex: '['}}}\n"), "b.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_suite(write_scenario(GOOD, "c.yaml").parent)
    assert sorted(Path(issue.file).name for issue in caught.value.issues) == ["a.yaml", "b.yaml"]


def test_cli_reports_file_and_line_and_runs_nothing(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    path = write_scenario(GOOD.replace("principal: alice", "principal: mallory"))
    store = tmp_path / "store"
    result = CliRunner().invoke(app, ["eval", str(path), "--store", str(store)], terminal_width=200)
    assert result.exit_code == 2
    assert f"{path}:{line_of(path, 'mallory')}: unknown principal 'mallory'" in result.output
    assert not store.exists()


def test_config_option_replaces_the_scenarios_own(tmp_path: Path) -> None:
    path = tmp_path / "alone.yaml"
    path.write_text(GOOD)
    suite = load_suite(path, config=ROOT / "examples" / "support-desk" / "tether.yaml")
    (scenario,) = suite.scenarios
    assert scenario.config == (ROOT / "examples" / "support-desk" / "tether.yaml").resolve()


def test_scripts_folders_are_not_scenarios(write_scenario: WriteScenario) -> None:
    path = write_scenario(GOOD)
    (path.parent / "scripts").mkdir()
    (path.parent / "scripts" / "model.yaml").write_text("turns: [{text: hi}]\n")
    assert [s.id for s in load_suite(path.parent).scenarios] == ["scenario"]
