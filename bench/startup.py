"""Fresh-process benchmark: how long the CLI's commands and a worker take to start.

    .venv/bin/python bench/startup.py [--repeats N]

Each command runs as the ``tether`` script runs it (compiled modules cached), in a
folder of its own, with the support-desk example on SQLite (and on PostgreSQL when
TETHER_TEST_DATABASE_URL is set: a database of its own, dropped afterwards). Printed:
the median wall time of N runs and the target beside it (issue 18: ``approvals
list``, ``approvals approve`` and ``audit verify --help`` <= 0.5 s; a worker ready to
run <= 1 s). Nothing is asserted.

- ``approvals approve``: refused (no such request: how long the command takes to start
  and decide), and a pending request (a run parked by ``tether run`` first, not
  timed), approved with ``--wait 0``; "decided" is when the decision is printed, "exit"
  when the process ends (on SQLite the command's own process runs the resumed run to
  its end first, on PostgreSQL a worker does).
- a worker: from exec until ``tether worker`` prints that it runs (DBOS launched, the
  queue polled; what the tests and the harness wait for).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-desk"
POSTGRES_ENV = "TETHER_TEST_DATABASE_URL"
REFERENCES = {
    "python -c pass": "pass",
    "python: import typer, sqlalchemy (the floor)": "import typer, typer.rich_utils, sqlalchemy",
}
"""What every command costs at the least: Python, the CLI framework, the database layer."""
APPROVALS = 4
"""Refunds approved at most (the example policy limits the refunds of a day)."""
TETHER = [sys.executable, "-c", "from tether.cli import main; main()"]


def write_config(folder: Path, database: str) -> Path:
    folder.mkdir(parents=True)
    path = folder / "tether.yaml"
    path.write_text(
        f"database: {database}\n"
        f"policy: {EXAMPLE / 'policy.yaml'}\n"
        f"agents: [{EXAMPLE / 'agents/support-desk.yaml'}, {EXAMPLE / 'agents/billing.yaml'}]\n"
        f"keys: {folder / 'keys'}\n"
        "operators: local\n"
    )
    return path


def environment(folder: Path, config: Path) -> dict[str, str]:
    from tether.demo import create_desk

    desk = folder / "desk.db"
    create_desk(desk)
    env = {**os.environ, "TETHER_CONFIG": str(config), "TETHER_DEMO_DESK": str(desk)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are cached
    env.pop("TETHER_DATABASE_URL", None)
    return env


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - started


def park(env: dict[str, str], cwd: Path) -> str:
    """A run parked on an approval: its request's id."""
    done = subprocess.run(
        [*TETHER, "run", "support-desk", "Acme was charged twice", "--principal=alice", "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    (request_id,) = json.loads(done.stdout)["approvals"]
    return str(request_id)


@contextmanager
def parking_worker(env: dict[str, str], cwd: Path, *, embedded: bool) -> Iterator[None]:
    """A worker that runs ``tether run``'s runs until they park (none when embedded:
    the command runs them itself)."""
    if embedded:
        yield
        return
    process = subprocess.Popen(
        [*TETHER, "worker", "--executor-id", "parking"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "running" in line:
            break
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def approve(request_id: str, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds until the decision is printed, and until the process ends."""
    command = [*TETHER, "approvals", "approve", request_id, "--as", "fiona", "--wait", "0"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    decided = time.perf_counter() - started
    rest, errors = process.communicate()
    ended = time.perf_counter() - started
    if " approved by " not in line:
        raise RuntimeError(f"approve failed: {line}{rest}{errors}")
    return decided, ended


def worker_ready(env: dict[str, str], cwd: Path, name: str) -> float:
    """Seconds from exec until ``tether worker`` says it runs."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*TETHER, "worker", "--executor-id", name],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    said = []
    try:
        for line in process.stdout:
            if "running" in line:
                return time.perf_counter() - started
            said.append(line)
        raise RuntimeError(f"the worker ended ({process.wait()}): {''.join(said[-3:]).strip()}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def row(label: str, seconds: list[float], target: float | None) -> None:
    wanted = f"target <= {target:.1f} s" if target is not None else ""
    median = statistics.median(seconds)
    print(f"  {label:<44} {median:6.2f} s   {wanted}", flush=True)


def bench(label: str, folder: Path, database: str, repeats: int) -> None:
    config = write_config(folder, database)
    env = environment(folder, config)
    print(f"{label}:", flush=True)
    timed([*TETHER, "approvals", "list"], env, folder)  # the tables exist, modules compiled
    commands = {
        "tether audit verify --help": ([*TETHER, "audit", "verify", "--help"], 0.5),
        "tether approvals list --help": ([*TETHER, "approvals", "list", "--help"], None),
        "tether approvals list": ([*TETHER, "approvals", "list"], 0.5),
        "tether audit verify": ([*TETHER, "audit", "verify"], None),
        "tether approvals approve (no such request)": (
            [*TETHER, "approvals", "approve", "apr_none", "--as", "fiona"],
            0.5,
        ),
    }
    for name, (command, target) in commands.items():
        row(name, [timed(command, env, folder) for _ in range(repeats)], target)
    decided, ended = [], []
    with parking_worker(env, folder, embedded=database.startswith("sqlite")):
        for _ in range(min(repeats, APPROVALS)):
            request_id = park(env, folder)
            times = approve(request_id, env, folder)
            decided.append(times[0])
            ended.append(times[1])
    row("tether approvals approve (decided)", decided, 0.5)
    row("tether approvals approve (exit)", ended, None)
    try:
        ready = [worker_ready(env, folder, f"bench-{uuid.uuid4().hex[:8]}") for _ in range(repeats)]
    except RuntimeError as exc:
        print(f"  tether worker, ready to run: failed: {exc}", flush=True)
        return
    row("tether worker, ready to run", ready, 1.0)


@contextmanager
def postgres_database(base: str) -> Iterator[str]:
    name = f"tether_startup_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(sa.make_url(base).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs of each (the median)")
    options = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores; wall time, median of {options.repeats}")
    for label, code in REFERENCES.items():
        row(
            label,
            [
                timed([sys.executable, "-c", code], dict(os.environ), Path.cwd())
                for _ in range(options.repeats)
            ],
            None,
        )
    with tempfile.TemporaryDirectory(prefix="tether-startup-") as tmp:
        folder = Path(tmp)
        bench(
            "SQLite (embedded)",
            folder / "sqlite",
            f"sqlite:///{folder / 'tether.db'}",
            options.repeats,
        )
        base = os.environ.get(POSTGRES_ENV)
        if not base:
            print(f"PostgreSQL: skipped, {POSTGRES_ENV} is not set")
            return 0
        with postgres_database(base) as url:
            bench("PostgreSQL", folder / "postgres", url, options.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
