"""Runtimes on the support-desk example, each on a fresh database and desk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tether.agents import Agent
from tether.demo import create_desk
from tether.demo._desk import DESK_ENV
from tether.policy import load_policy
from tether.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-desk"

MakeRuntime = Callable[..., Runtime]


def write_script(path: Path, text: str) -> str:
    path.write_text(text)
    return f"scripted:{path}"


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "desk.db"
    create_desk(path)
    monkeypatch.setenv(DESK_ENV, str(path))
    return path


@pytest.fixture
def make_runtime(tmp_path: Path, desk: Path) -> Iterator[MakeRuntime]:
    """Build (and by default launch) a runtime; everything is closed after the test."""
    made: list[Runtime] = []

    def make(
        database: str,
        *,
        launch: bool = True,
        policy_path: Path | None = None,
        models: dict[str, str] | None = None,
    ) -> Runtime:
        policy = load_policy(policy_path or EXAMPLE / "policy.yaml")
        agents = [
            Agent(name=name, policy=policy, model=model) for name, model in (models or {}).items()
        ] or [
            Agent(
                name="support-desk",
                policy=policy,
                model=f"scripted:{EXAMPLE / 'scripts' / 'refund-request.yaml'}",
            ),
            Agent(
                name="billing",
                policy=policy,
                model=f"scripted:{EXAMPLE / 'scripts' / 'large-refund.yaml'}",
            ),
        ]
        runtime = Runtime(
            policy=policy, agents=agents, database=database, keys=str(tmp_path / "keys")
        )
        made.append(runtime)
        if launch:
            runtime.launch()
        return runtime

    yield make
    for runtime in reversed(made):
        runtime.close()
