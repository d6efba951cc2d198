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
from typing import Any

import pytest

from tether.demo import DESK_ENV, create_desk

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "support-desk"
HEAVY = (
    *("pydantic_ai", "dbos", "cel", "celpy", "opentelemetry", "alembic", "httpx"),
    *("prompt_toolkit", "psycopg"),  # the cel package's shell; PostgreSQL's driver
    *("detect_secrets", "requests", "stdnum"),  # secrets in free text (and its HTTP); IBANs
    "cryptography",  # the audit keys: to sign a checkpoint, check one
)
"""Packages that cost a fresh process most of its start, and the commands below need
only where they say so."""
RUNNING = (
    *("tether.runtime._dbos", "tether.runtime._resume", "tether.runtime._segments"),
    *("tether.connectors.email._local", "tether.connectors.email._parse"),
)
"""tether's modules for running and resuming runs, and the email connector's outbox and
parser: reading and deciding approvals needs none of them (a policy's tools may type
an argument with the connector's ``Address``)."""

_RUN = """
import json, sys
_, args, heavy, report, mark = sys.argv
sys.argv = ["tether", *json.loads(args)]
heavy = set(json.loads(heavy))
found = {}

def ran(module):
    # A module whose code runs when first used (tether.lazy.load_on_first_use) is in
    # sys.modules before it runs; the code, once run, leaves __builtins__ in its names.
    return "__builtins__" in getattr(module, "__dict__", {"__builtins__": None})

def modules():
    ran_here = [name for name, module in list(sys.modules.items()) if ran(module)]
    return {
        "heavy": sorted({name.split(".")[0] for name in ran_here} & heavy),
        "tether": sorted(name for name in sys.modules if name.startswith("tether.")),
    }

class Marked:
    \"\"\"Standard output, noting what is loaded when ``mark`` is first printed.\"\"\"

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if mark and mark in text and "at_mark" not in found:
            found["at_mark"] = modules()
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)

sys.stdout = Marked(sys.stdout)
from tether.cli import main
try:
    main()
except SystemExit:
    pass
found.update(modules())
with open(report, "w") as out:
    json.dump(found, out)
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


def loaded(config: Path, *args: str, mark: str = "") -> dict[str, Any]:
    """The heavy packages and the tether modules ``tether ARGS`` loaded; with ``mark``,
    also those loaded when it printed ``mark`` first (under ``at_mark``)."""
    report = config.parent / "loaded.json"
    env = {**os.environ, "TETHER_CONFIG": str(config), "PYTHONPATH": str(ROOT / "src")}
    env.pop("TETHER_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", _RUN, json.dumps(args), json.dumps(HEAVY), str(report), mark],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.exists(), done.stderr
    found: dict[str, Any] = json.loads(report.read_text())
    found["output"] = done.stdout
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
    assert set(RUNNING).isdisjoint(found["tether"])


def test_a_refused_approval_launches_nothing(config: Path) -> None:
    loaded(config, "approvals", "list")
    # The log's first event is signed at once (its first checkpoint, a key made):
    # that one is recorded first, and the refusal after it signs nothing.
    loaded(config, "approvals", "approve", "apr_none", "--as", "fiona")
    found = loaded(config, "approvals", "approve", "apr_none", "--as", "fiona")
    # Its refusal is recorded (redacted, as every event) without detect-secrets: the
    # text holds nothing a credential could be.
    assert found["heavy"] == ["cel"]
    assert set(RUNNING).isdisjoint(found["tether"])


def test_a_decision_is_printed_before_its_run_resumes(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision is durable once recorded: it is shown before the command loads
    what resuming the run needs (the agents' framework, DBOS), and the run resumes."""
    desk = tmp_path / "desk.db"
    create_desk(desk)
    monkeypatch.setenv(DESK_ENV, str(desk))
    task = ("support-desk", "Acme was charged twice", "--principal", "alice", "--json")
    parked = json.loads(loaded(config, "run", *task)["output"])
    (request_id,) = parked["approvals"]
    found = loaded(
        config, "approvals", "approve", request_id, "--as", "fiona", mark=" approved by "
    )
    # Recording the decision scans its event for secrets (detect-secrets), not over HTTP.
    assert found["at_mark"]["heavy"] == ["cel", "detect_secrets"]
    assert set(RUNNING).isdisjoint(found["at_mark"]["tether"])
    assert f"run {parked['id']} completed" in found["output"]  # resumed, here (embedded)
    assert {"pydantic_ai", "dbos"} <= set(found["heavy"])


def test_a_worker_loads_what_it_runs_with(config: Path) -> None:
    """The other side: the guard above would pass if nothing could load them."""
    found = loaded(config, "worker", "--help")
    assert found["heavy"] == []
    found = loaded(config, "runs", "list")
    assert "tether.runtime._runtime" in found["tether"]
