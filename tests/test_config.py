"""The runtime and the other commands find the same state from the same tether.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tether.agents import load_script
from tether.config import load_config, state_location
from tether.errors import ConfigFileError, ConfigurationError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    example = EXAMPLES / "support-desk"
    (tmp_path / "tether.yaml").write_text(
        f"policy: {example / 'policy.yaml'}\nagents: [{example / 'agents' / 'billing.yaml'}]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TETHER_DATABASE_URL", raising=False)
    monkeypatch.delenv("TETHER_AUDIT_KEYS", raising=False)
    monkeypatch.delenv("TETHER_CONFIG", raising=False)
    return tmp_path


def test_without_a_database_both_use_the_file_beside_tether_yaml(project: Path) -> None:
    config = load_config()
    assert config.database == f"sqlite:///{project.resolve() / 'tether.db'}"
    assert state_location() == (config.database, None)


def test_the_environment_wins_for_both(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("TETHER_AUDIT_KEYS", "/secure/keys")
    config = load_config()
    assert (config.database, config.keys) == ("sqlite:///elsewhere.db", "/secure/keys")
    assert state_location() == ("sqlite:///elsewhere.db", "/secure/keys")


def test_given_values_win_over_everything(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_AUDIT_KEYS", "/secure/keys")
    assert state_location("sqlite:///given.db", "given-keys") == (
        "sqlite:///given.db",
        "given-keys",
    )


# --- errors in tether.yaml say file, line and fix (issue 15, item 19) ---------------------


def config_error(tmp_path: Path, text: str) -> str:
    (tmp_path / "tether.yaml").write_text(text)
    with pytest.raises(ConfigFileError) as refused:
        load_config(tmp_path / "tether.yaml")
    message = str(refused.value)
    assert "validation error" not in message
    assert "input_value" not in message
    assert "pydantic" not in message
    return message


def test_a_missing_key_names_the_file_the_line_and_the_fix(tmp_path: Path) -> None:
    message = config_error(tmp_path, "# the desk\npolicy: policy.yaml\n")
    assert f"{tmp_path / 'tether.yaml'}:2: missing required key 'agents'" in message
    assert "add `agents: [agents/NAME.yaml]`" in message


def test_an_unknown_key_says_which_keys_are_allowed(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, "policy: p.yaml\nagents: [a.yaml]\nworker:\n  concurency: 2\n"
    )
    assert "tether.yaml:4: unknown key 'concurency'; did you mean 'concurrency'?" in message
    assert "allowed here: application_name, concurrency, executor_id" in message


def test_a_bad_value_says_what_was_given(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, "policy: p.yaml\nagents: [a.yaml]\nworker:\n  concurrency: 0\n"
    )
    assert "tether.yaml:4: worker.concurrency: Input should be greater than or equal to 1" in (
        message
    )
    assert "(given: 0)" in message


def test_every_problem_is_listed_in_line_order(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        "web:\n  users:\n    fiona: {roles: [approver]}\nagents: []\nkeys: [1]\n",
    )
    lines = message.splitlines()
    assert lines[0] == "configuration is invalid (4 problems):"
    assert ":1: missing required key 'policy'" in lines[1]
    assert ":3: web.users.fiona: give password_hash or password_env" in lines[2]
    assert ":4: agents: List should have at least 1 item" in lines[3]
    assert ":5: keys: Input should be a valid string" in lines[4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ":1: the file is empty; a tether.yaml names at least `policy:` and `agents:`"),
        ("- policy.yaml\n", ":1: a tether.yaml is a mapping"),
        ("policy: p.yaml\nagents: [a.yaml\n", ":3: not valid YAML"),
        ("policy: a\npolicy: b\n", ":2: key 'policy' appears twice"),
    ],
)
def test_a_file_that_is_not_a_configuration_says_so(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in config_error(tmp_path, text)


def test_the_queue_poll_and_dbos_application_name_are_worker_settings(project: Path) -> None:
    config_file = project / "tether.yaml"
    config_file.write_text(
        config_file.read_text() + "worker: {poll_seconds: 0.5, application_name: acme-desk}\n"
    )
    with load_config().runtime() as rt:
        assert rt.durability.poll_seconds == 0.5
        assert rt.durability.application_name == "acme-desk"


def test_a_queue_that_is_never_polled_is_refused(project: Path) -> None:
    config_file = project / "tether.yaml"
    config_file.write_text(config_file.read_text() + "worker: {poll_seconds: 0}\n")
    with pytest.raises(ConfigurationError, match="poll_seconds"):
        load_config()


@pytest.mark.parametrize(
    ("agent_file", "expected"),
    [
        (
            "name: desk\npolicy: policy.yaml\nlimits:\n  tool_cals: 3\n",
            ":4: unknown key 'tool_cals'; did you mean 'tool_calls'? allowed here: requests, ",
        ),
        ("name: desk\n", ":1: missing required key 'policy'"),
        ("name: desk\npolicy: [policy.yaml\n", ":3: not valid YAML"),
        ("- desk\n", ":1: an agent file is a mapping with at least `name` and `policy`"),
    ],
)
def test_an_agent_file_names_its_problems_and_lines(
    tmp_path: Path, agent_file: str, expected: str
) -> None:
    (tmp_path / "policy.yaml").write_text((EXAMPLES / "support-desk" / "policy.yaml").read_text())
    (tmp_path / "desk.yaml").write_text(agent_file)
    (tmp_path / "tether.yaml").write_text("policy: policy.yaml\nagents: [desk.yaml]\n")
    with pytest.raises(ConfigurationError) as refused:
        load_config(tmp_path / "tether.yaml")
    message = str(refused.value)
    assert message.startswith("agent file is invalid")
    assert f"{tmp_path / 'desk.yaml'}{expected}" in message
    assert "validation error" not in message and "input_value" not in message


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("turns:\n  - text: hi\n    callz: []\n", ":3: unknown key 'callz'; did you mean 'calls'?"),
        ("turns: []\n", ":1: turns: List should have at least 1 item"),
        ("turns:\n  - seconds: -1\n", ":2: turns.0.seconds: Input should be greater than"),
        ("turns: [\n", ":2: not valid YAML"),
    ],
)
def test_a_script_names_its_problems_and_lines(
    tmp_path: Path, script: str, expected: str
) -> None:
    path = tmp_path / "script.yaml"
    path.write_text(script)
    with pytest.raises(ConfigurationError) as refused:
        load_script(path)
    message = str(refused.value)
    assert message.startswith("scripted model is invalid")
    assert f"{path}{expected}" in message
    assert "validation error" not in message and "input_value" not in message
