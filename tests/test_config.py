"""The runtime and the other commands find the same state from the same tether.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tether.config import load_config, state_location
from tether.errors import ConfigurationError


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
