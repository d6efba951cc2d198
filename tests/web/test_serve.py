"""`tether serve` after the demo shows the pending approval; users and tokens from
tether.yaml; the command's helpers."""

from __future__ import annotations

import io
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from tests.web.conftest import csrf_of
from tether.cli import app as cli
from tether.config import ConfigFile, WebSettings, load_config
from tether.demo._desk import DESK_ENV
from tether.demo._story import DemoResult, run_demo
from tether.errors import ConfigurationError
from tether.web import Users, app_from_config, hash_password, token_digest


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    folder = tmp_path_factory.mktemp("project")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DESK_ENV, "")
        patch.delenv("TETHER_DATABASE_URL", raising=False)
        patch.delenv("TETHER_CONFIG", raising=False)
        patch.chdir(folder)
        console = Console(file=io.StringIO(), width=200, record=True)
        result = run_demo(folder / ".tether" / "demo", console)
        assert "Operator console: `tether serve`" in console.export_text()
        yield result


def log_in(client: TestClient, name: str, password: str) -> int:
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"username": name, "password": password, "csrf_token": csrf}
    )
    return response.status_code


def test_the_console_after_the_demo_shows_its_pending_approval(demo: DemoResult) -> None:
    config = load_config(demo.config)
    text = demo.config.read_text()
    assert "password_hash: $argon2id$" in text
    assert all(password not in text for password in demo.logins.values())
    with (
        config.runtime() as rt,
        TestClient(app_from_config(config, rt), follow_redirects=False) as client,
    ):
        assert log_in(client, "fiona", "wrong") == 401
        assert log_in(client, "fiona", demo.logins["fiona"]) == 303
        (request_id,) = demo.pending
        inbox = client.get("/")
        assert request_id in inbox.text and "Review and decide" in inbox.text
        assert "run.untrusted" in inbox.text  # the refund the injected email asked for
    key = demo.config.parent / "web-session.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_tether_serve_starts_the_console_on_the_demo(
    demo: DemoResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:  # instead of serving forever
        served.update(options)
        with TestClient(app, follow_redirects=False) as client:
            assert log_in(client, "alice", demo.logins["alice"]) == 303
            csrf = csrf_of(client.get("/").text)
            refused = client.post(
                f"/approvals/{demo.pending[0]}/approve", data={"csrf_token": csrf}
            )
            served["refused"] = refused.status_code

    monkeypatch.setattr("uvicorn.run", run)
    monkeypatch.chdir(demo.config.parents[2])
    result = CliRunner().invoke(cli, ["serve", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert "tether console on http://127.0.0.1:8765/" in result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8765
    assert served["refused"] == 403  # alice asked for it: she cannot approve it


def test_hash_password_and_new_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "s3cret-pass")
    hashed = CliRunner().invoke(cli, ["serve", "--hash-password"])
    assert hashed.exit_code == 0
    digest = hashed.output.strip()
    assert digest.startswith("$argon2id$")
    settings = WebSettings.model_validate(
        {"users": {"kim": {"password_hash": digest, "roles": ["viewer"]}}}
    )
    assert Users(settings).authenticate("kim", "s3cret-pass") is not None
    made = CliRunner().invoke(cli, ["serve", "--new-token"])
    token = re.search(r"token:\s+(\S+)", made.output)
    sha = re.search(r"sha256:\s+(\S+)", made.output)
    assert token and sha and token_digest(token.group(1)) == sha.group(1)


def test_users_and_tokens_from_the_environment() -> None:
    settings = WebSettings.model_validate(
        {
            "users": {"ops": {"password_env": "OPS_PW", "roles": ["operator"]}},
            "tokens": [{"name": "ci", "user": "ops", "token_env": "CI_TOKEN"}],
        }
    )
    users = Users(settings, env={"OPS_PW": "from-env", "CI_TOKEN": "tt_ci"})
    user = users.authenticate("ops", "from-env")
    assert user is not None and user.roles == frozenset({"operator"})
    assert users.authenticate("ops", "guess") is None
    assert users.authenticate("nobody", "from-env") is None
    by_token = users.for_token("tt_ci")
    assert by_token is not None and by_token.name == "ops" and by_token.credential == "ci"
    assert by_token.actor("api").method == "api_token"
    assert users.for_token("tt_other") is None
    unset = Users(settings, env={})
    assert unset.authenticate("ops", "") is None and unset.for_token("tt_ci") is None


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"users": {"a": {"roles": ["viewer"]}}}, "give password_hash or password_env"),
        ({"users": {"a": {"password_hash": "plain", "roles": []}}}, "must be an argon2 hash"),
        ({"users": {"a": {"password_env": "X", "roles": ["boss"]}}}, "roles.0"),
        ({"tokens": [{"name": "t", "user": "a", "sha256": "abc"}]}, "64 hex digits"),
    ],
)
def test_bad_web_settings_are_refused(web: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConfigFile.model_validate({"policy": "p.yaml", "agents": ["a.yaml"], "web": web})


def test_a_token_for_an_unknown_user_is_refused() -> None:
    settings = WebSettings.model_validate(
        {"tokens": [{"name": "t", "user": "ghost", "sha256": "0" * 64}]}
    )
    with pytest.raises(ConfigurationError, match=r"'ghost', who is not in web\.users"):
        Users(settings)
    assert hash_password("x").startswith("$argon2id$")


def test_state_of_the_demo_is_where_the_config_says(demo: DemoResult, tmp_path: Path) -> None:
    assert demo.config.parent.name == "demo"
    assert (demo.config.parent / "tether.db").exists()
    assert tmp_path.exists()
