"""A console on a launched runtime over the support-desk example, with real runs.

One runtime per test module (launching DBOS takes a second or two); each test gets
its own client (its own cookies) and makes its own runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tether.agents import Agent
from tether.approvals import ApprovalRequest
from tether.config import WebSettings, WebTokenSettings, WebUserSettings
from tether.demo import create_desk
from tether.demo._desk import DESK_ENV
from tether.policy import load_policy
from tether.runtime import Runtime
from tether.web import create_app, hash_password, token_digest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-desk"
SCRIPTS = EXAMPLE / "scripts"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Cheap argon2 parameters: the tests log in often."""

PASSWORDS = {
    "alice": "alice-pw",  # support: asks for refunds; approver role, but never of her own
    "bob": "bob-pw",  # support: an approver in the console, not of finance rules
    "fiona": "fiona-pw",  # finance lead
    "frank": "frank-pw",  # finance lead
    "grace": "grace-pw",  # finance lead
    "olga": "olga-pw",  # operator
    "vic": "vic-pw",  # viewer only
    "audrey": "audrey-pw",  # auditor
}
ROLES: dict[str, list[str]] = {
    "alice": ["approver"],
    "bob": ["approver"],
    "fiona": ["approver"],
    "frank": ["approver"],
    "grace": ["approver"],
    "olga": ["operator"],
    "vic": ["viewer"],
    "audrey": ["auditor"],
}
TOKENS = {name: f"tt_test-token-of-{name}-0123456789abcdef" for name in ROLES}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_settings() -> WebSettings:
    return WebSettings(
        users={
            name: WebUserSettings(
                password_hash=hash_password(PASSWORDS[name], hasher=FAST), roles=roles
            )
            for name, roles in ROLES.items()  # type: ignore[misc]
        },
        tokens=[
            WebTokenSettings(name=f"{name}-token", user=name, sha256=token_digest(token))
            for name, token in TOKENS.items()
        ],
    )


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("desk") / "desk.db"
    create_desk(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DESK_ENV, str(path))
        yield path


def make_runtime(database: str, folder: Path) -> Runtime:
    """A runtime on the example policy, its daily refund budget raised (tests refund a lot)."""
    text = (EXAMPLE / "policy.yaml").read_text().replace("max: 5000", "max: 100000000")
    (folder / "policy.yaml").write_text(text)
    policy = load_policy(folder / "policy.yaml")
    agents = [
        Agent(
            name="support-desk", policy=policy, model=f"scripted:{SCRIPTS / 'refund-request.yaml'}"
        ),
        Agent(name="billing", policy=policy, model=f"scripted:{SCRIPTS / 'large-refund.yaml'}"),
    ]
    return Runtime(policy=policy, agents=agents, database=database, keys=str(folder / "keys"))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, desk: Path) -> Iterator[Runtime]:
    folder = tmp_path_factory.mktemp("state")
    rt = make_runtime(f"sqlite:///{folder / 'tether.db'}", folder)
    rt.launch()
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def evals_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("evals")


@pytest.fixture(scope="module")
def app(runtime: Runtime, evals_dir: Path) -> FastAPI:
    return create_app(runtime, web_settings(), session_secret="s" * 48, evals_dir=evals_dir)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as made:
        yield made


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    if found is None:
        raise AssertionError(f"no CSRF token in the page:\n{html[:500]}")
    return found.group(1)


def log_in(client: TestClient, name: str) -> str:
    """Log in as ``name``; returns the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": name, "password": PASSWORDS[name], "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


StartRun = Callable[..., ApprovalRequest]


@pytest.fixture
def pending(runtime: Runtime) -> StartRun:
    """Start a real run that parks for approval; returns its approval request."""

    def start(agent: str = "support-desk", principal: str = "alice") -> ApprovalRequest:
        run = runtime.start(agent, "Acme was charged twice", principal=principal)
        parked = runtime.wait(run.id)
        assert parked.status == "waiting_approval", parked
        (request,) = runtime.approvals.find(run_id=run.id)
        return request

    return start
