"""Worker subprocesses, an SMTP server and the desk, for the crash and worker tests.

The test process never launches DBOS: it starts runs and decides approvals through a
:class:`~tether.runtime.Runtime` that is not launched (it enqueues through a
DBOSClient), while ``python -m tests.runtime.crash_worker`` processes execute them.
"""

from __future__ import annotations

import email
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from tests.runtime import crash_tools
from tests.runtime.crash_worker import AGENT, POLICY
from tether.agents import Agent
from tether.connectors.email import free_port
from tether.policy import load_policy
from tether.runtime import FINISHED, RunRecord, Runtime

ROOT = Path(__file__).resolve().parents[2]
EXECUTOR = "crash-worker"
"""The executor id a restarted worker keeps, so DBOS recovers the dead one's segments."""


class SmtpSink:
    """A real SMTP server on loopback that keeps every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(message["Message-ID"]) for message in self.messages]

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


@dataclass
class Worker:
    """One worker subprocess; its output goes to ``log``."""

    executor_id: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 120.0) -> Worker:
        deadline = time.monotonic() + timeout
        while "ready" not in self.output():
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.executor_id} exited:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.executor_id} not ready:\n{self.output()}")
            time.sleep(0.05)
        return self

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.executor_id} still running:\n{self.output()}"
            ) from None

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Harness:
    """A database, a desk folder, an SMTP server, and the workers started on them."""

    database: str
    folder: Path
    smtp: SmtpSink
    workers: list[Worker] = field(default_factory=list)
    _runtime: Runtime | None = None
    _scripts: int = 0

    @property
    def keys(self) -> Path:
        return self.folder / "keys"

    @property
    def runtime(self) -> Runtime:
        """The test's own runtime: starts runs, decides approvals; never launched."""
        if self._runtime is None:
            policy = load_policy(POLICY)
            self._runtime = Runtime(
                policy=policy,
                agents=[Agent(name=AGENT, policy=policy)],
                database=self.database,
                keys=str(self.keys),
            )
        return self._runtime

    def env(self, executor_id: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                crash_tools.DIR_ENV: str(self.folder),
                crash_tools.SMTP_ENV: f"127.0.0.1:{self.smtp.port}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            }
        )
        env.pop("DBOS__VMID", None)
        return env

    def start_worker(
        self, executor_id: str = EXECUTOR, *, ready: bool = True, **options: float
    ) -> Worker:
        self.runtime  # noqa: B018  the database and the audit keys exist before any worker
        log = self.folder / f"worker-{len(self.workers) + 1}-{executor_id}.log"
        args = [
            sys.executable,
            "-m",
            "tests.runtime.crash_worker",
            "--database",
            self.database,
            "--keys",
            str(self.keys),
            "--executor-id",
            executor_id,
        ]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        with log.open("wb") as out:
            process = subprocess.Popen(
                args, cwd=ROOT, env=self.env(executor_id), stdout=out, stderr=subprocess.STDOUT
            )
        worker = Worker(executor_id, process, log)
        self.workers.append(worker)
        return worker.wait_ready() if ready else worker

    def arm(self, point: str, tool: str) -> None:
        """The next attempt of ``tool`` kills its worker at ``point`` (before/after)."""
        (self.folder / f"kill-{point}-{tool}").touch()

    def kills(self) -> list[str]:
        log = self.folder / "kills.log"
        return log.read_text().splitlines() if log.exists() else []

    def start_run(self, turns: list[dict[str, Any]], task: str = "crash test") -> RunRecord:
        self._scripts += 1
        path = self.folder / f"script-{self._scripts}.yaml"
        path.write_text(yaml.safe_dump({"turns": turns}))
        return self.runtime.start(AGENT, task, principal="olga", model=f"scripted:{path}")

    def status(self, run_id: str) -> str:
        return self.runtime.store.get(run_id).status

    def wait_until(
        self, what: str, check: Callable[[], bool], *, timeout: float = 90.0, worker: Worker | None
    ) -> None:
        """Poll ``check``; fail if a worker that should live dies, or on timeout."""
        deadline = time.monotonic() + timeout
        while not check():
            if worker is not None and worker.process.poll() is not None:
                raise AssertionError(f"worker died while waiting for {what}:\n{worker.output()}")
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {w.log.name}\n{w.output()}" for w in self.workers)
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.05)

    def wait_status(
        self, run_id: str, statuses: frozenset[str] | set[str], *, worker: Worker | None
    ) -> RunRecord:
        self.wait_until(
            f"run {run_id} in {sorted(statuses)}",
            lambda: self.status(run_id) in statuses,
            worker=worker,
        )
        return self.runtime.store.get(run_id)

    def wait_finished(self, run_id: str, *, worker: Worker | None) -> RunRecord:
        record = self.wait_status(run_id, FINISHED, worker=worker)
        # The run is saved inside the segment's last step; let the segment end too.
        self.wait_until(
            f"the segments of {run_id} to end",
            lambda: self.segment_status(run_id, record.segment) == "SUCCESS",
            worker=worker,
        )
        return record

    def segment_status(self, run_id: str, segment: int) -> str | None:
        client = self.runtime.durability.client
        found = client.list_workflows(workflow_ids=[f"{run_id}/seg-{segment}"])
        return found[0].status if found else None

    def desk(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        if not (self.folder / "desk.db").exists():
            return []
        with closing(sqlite3.connect(self.folder / "desk.db", timeout=30)) as db:
            return db.execute(query, args).fetchall()

    def close(self) -> None:
        running = [worker for worker in self.workers if worker.process.poll() is None]
        for worker in running:  # all at once: each takes a moment to shut DBOS down
            worker.process.send_signal(signal.SIGCONT)
            worker.process.send_signal(signal.SIGTERM)
        for worker in running:
            worker.stop()
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


def harness(database: str, folder: Path) -> Iterator[Harness]:
    """A :class:`Harness` whose workers, runtime and SMTP server are closed afterwards."""
    smtp = SmtpSink()
    smtp.start()
    h = Harness(database=database, folder=folder, smtp=smtp)
    try:
        yield h
    finally:
        try:
            h.close()
        finally:
            smtp.stop()


def record_turn(name: str) -> dict[str, Any]:
    return {
        "text": f"Recording {name}.",
        "calls": [{"tool": "crash.create_record", "args": {"name": name}}],
    }


def mail_turn(subject: str, to: str = "customer@example.test") -> dict[str, Any]:
    return {
        "text": "Telling the customer.",
        "calls": [
            {
                "tool": "crash.send_mail",
                "args": {"to": [to], "subject": subject, "body": "Your request is done."},
            }
        ],
    }


def slow_turn(name: str) -> dict[str, Any]:
    return {
        "text": "The long part.",
        "calls": [{"tool": "crash.slow_task", "args": {"name": name}}],
    }


def done_turn() -> dict[str, Any]:
    return {"text": "All done."}
