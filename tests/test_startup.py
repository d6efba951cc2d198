"""What a fresh ``tether`` process loads for the commands people wait on (issue 18).

Each command runs in a process of its own, as an operator runs it; the test reads which
heavy packages it loaded. No timing: ``bench/startup.py`` measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "support-desk"
HEAVY = (
    *("pydantic_ai", "dbos", "cel", "celpy", "opentelemetry", "alembic", "httpx"),
    *("prompt_toolkit", "psycopg"),  # the cel package's shell; PostgreSQL's driver
)
"""Packages that cost a fresh process most of its start, and the commands below need
only where they say so."""

_RUN = """
import json, sys
_, args, heavy, report = sys.argv
sys.argv = ["tether", *json.loads(args)]
from tether.cli import main
try:
    main()
except SystemExit:
    pass
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(heavy)))
tether = sorted(name for name in sys.modules if name.startswith("tether."))
with open(report, "w") as out:
    json.dump({"heavy": loaded, "tether": tether}, out)
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tether.yaml"
    path.write_text(
        f"database: sqlite:///{tmp_path / 'tether.db'}\n"
        f"policy: {EXAMPLE / 'policy.yaml'}\n"
        f"agents: [{EXAMPLE / 'agents/support-desk.yaml'}, {EXAMPLE / 'agents/billing.yaml'}]\n"
        f"keys: {tmp_path / 'keys'}\n"
        "operators: local\n"
    )
    return path


def loaded(config: Path, *args: str) -> dict[str, list[str]]:
    """The heavy packages and the tether modules ``tether ARGS`` loaded."""
    report = config.parent / "loaded.json"
    env = {**os.environ, "TETHER_CONFIG": str(config), "PYTHONPATH": str(ROOT / "src")}
    env.pop("TETHER_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", _RUN, json.dumps(args), json.dumps(HEAVY), str(report)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.exists(), done.stderr
    found: dict[str, list[str]] = json.loads(report.read_text())
    return found


def test_audit_verify_help_loads_none_of_them(config: Path) -> None:
    found = loaded(config, "audit", "verify", "--help")
    assert found["heavy"] == []
    assert "tether.config" not in found["tether"]  # nor tether.yaml's parts


def test_audit_verify_reads_the_trail_without_the_policy_or_the_runtime(config: Path) -> None:
    loaded(config, "approvals", "list")  # the database exists, its schema made
    found = loaded(config, "audit", "verify")
    assert found["heavy"] == []
    assert not [
        name
        for name in found["tether"]
        if name.startswith(("tether.gate", "tether.policy._cel", "tether.runtime"))
    ]


def test_approvals_list_loads_the_policy_not_the_agents_framework_or_dbos(config: Path) -> None:
    loaded(config, "approvals", "list")  # the first one makes the schema (Alembic)
    found = loaded(config, "approvals", "list")
    # CEL: loading the policy compiles its conditions; nothing else heavy.
    assert found["heavy"] == ["cel"]
    assert "tether.runtime._dbos" not in found["tether"]


def test_a_refused_approval_launches_nothing(config: Path) -> None:
    loaded(config, "approvals", "list")
    found = loaded(config, "approvals", "approve", "apr_none", "--as", "fiona")
    assert found["heavy"] == ["cel"]
    assert "tether.runtime._segments" not in found["tether"]


def test_a_worker_loads_what_it_runs_with(config: Path) -> None:
    """The other side: the guard above would pass if nothing could load them."""
    found = loaded(config, "worker", "--help")
    assert found["heavy"] == []
    found = loaded(config, "runs", "list")
    assert "tether.runtime._runtime" in found["tether"]
