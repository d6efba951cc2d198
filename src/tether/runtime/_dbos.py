"""DBOS, the durable-execution engine under tether's runs: its plumbing in one place.

DBOS is one per process. A :class:`Durability` either only queues segments (a client:
the CLI, the console) or is *launched* to execute them too (a worker, or an embedded
setup). Closing one that was not launched leaves the process's DBOS alone, so several
runtimes can live in one process; only one of them can be launched at a time.

Versions. DBOS recovers a workflow only in a process of the application version that
started it, and gives work queued without a version only to the latest version
registered. tether's version for DBOS is therefore not its release but the version
of the durable protocol (:data:`DURABLE_VERSION`: the steps a segment takes and the
run state it reads), and every segment is queued with it explicitly. Upgrading or
rolling back between releases that share it strands nothing; a release that changes
it leaves segments already in flight to workers of the old protocol (see
docs/operations.md, "Upgrades and rollbacks").

Starting at once. A segment is queued only when this process cannot run it now: a
launched process with room starts it itself (``DBOS.start_workflow`` under the
segment's workflow id), so a run started or resumed where it can run waits for no
poll of the queue; elsewhere on PostgreSQL the live workers are woken by a
notification (:mod:`._wake`). A workflow id runs once whoever starts or queues it.

Only DBOS's public API is used.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from dbos import DBOS, DBOSClient, DBOSConfig, SetWorkflowID
from dbos import error as dbos_error
from sqlalchemy.engine import Engine

from tether.db import sqlite_url
from tether.runtime._protocol import (
    DEFAULT_APPLICATION_NAME,
    DEFAULT_APPLICATION_VERSION,
    DEFAULT_POLL_SECONDS,
    DURABLE_VERSION,
    QUEUE,
    WORKFLOW,
    durable_application_version,
)
from tether.runtime._wake import SEGMENTS, Listener, LiveWorkers, notify

DBOSError = dbos_error.DBOSException
"""DBOS's own errors: they are DBOS's to handle (a cancelled workflow), not a run's."""

_log = logging.getLogger("tether.runtime")


class _StderrNow(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is logged.

    DBOS binds its console handler to the ``sys.stderr`` of the moment it starts; when
    that stream is later replaced and closed (a test runner, a redirected CLI), logging
    would fail. Installed first, this handler is the one DBOS keeps.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


CANCELLATIONS = (
    dbos_error.DBOSWorkflowCancelledError,
    dbos_error.DBOSAwaitedWorkflowCancelledError,
)
"""What DBOS raises in a segment tether cancelled (an operator, a timed-out evaluation)."""
ENDED_ELSEWHERE = (*CANCELLATIONS, dbos_error.DBOSWorkflowConflictIDError)
"""What a segment's execution sees when it no longer owns its workflow: cancelled, or
(the conflict) taken over by another execution."""


_CANCELLED_HERE: deque[str] = deque(maxlen=1024)
"""Workflows this process cancelled lately (what DBOS then says of them is noise)."""


class _NoCancellationTracebacks(logging.Filter):
    """Drops DBOS's logs of a workflow that ends because tether cancelled it.

    Cancelling a run is tether's own decision, recorded as ``run.stopped`` and reported
    by whoever cancelled it in one line; DBOS logs it as an exception in the workflow
    (and, in the process that cancelled it, as a workflow it no longer owns).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, CANCELLATIONS):
            return False
        if _CANCELLED_HERE and record.levelno < logging.ERROR:
            message = record.getMessage()
            return not any(workflow in message for workflow in _CANCELLED_HERE)
        return True


def _install_dbos_log_handler() -> None:
    dbos_logger = logging.getLogger("dbos")
    if not dbos_logger.handlers:
        handler = _StderrNow()
        handler.name = "__dbos_console_log_handler__"
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)8s] (dbos) %(message)s"))
        dbos_logger.addHandler(handler)
    if not any(isinstance(item, _NoCancellationTracebacks) for item in dbos_logger.filters):
        dbos_logger.addFilter(_NoCancellationTracebacks())


_install_dbos_log_handler()


class SegmentRunner(Protocol):
    """What executes a segment in this process (the runtime's segments)."""

    async def run_segment(self, run_id: str, segment: int) -> str: ...


class _Process:
    """The one runner that executes segments in this process, once launched."""

    runner: SegmentRunner | None = None
    owner: Durability | None = None
    active = 0
    """Segments executing in this process now."""
    lock = threading.Lock()


@DBOS.workflow(name=WORKFLOW)
async def run_segment(run_id: str, segment: int) -> str:
    runner = _Process.runner
    if runner is None:
        raise RuntimeError("no tether runtime is launched in this process")
    with _Process.lock:
        _Process.active += 1
    try:
        return await runner.run_segment(run_id, segment)
    finally:
        with _Process.lock:
            _Process.active -= 1


def dbos_url(url: str) -> str:
    """DBOS takes plain ``postgresql://`` URLs; SQLite URLs with the SQLite library
    tether uses (see :func:`tether.db.sqlite_url`)."""
    return sqlite_url(url.replace("postgresql+psycopg://", "postgresql://", 1))


def segment_id(run_id: str, segment: int) -> str:
    """The workflow id of a run's segment: queuing it twice runs it once."""
    return f"{run_id}/seg-{segment}"


class Durability:
    """DBOS for one runtime: a client that queues segments, launched to run them too."""

    def __init__(
        self,
        database_url: str,
        *,
        application_version: str = DEFAULT_APPLICATION_VERSION,
        application_name: str = DEFAULT_APPLICATION_NAME,
        executor_id: str = "local",
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        engine: Engine | None = None,
        live_after_seconds: float = 30.0,
    ) -> None:
        self.url = dbos_url(database_url)
        self.application_version = application_version
        self.application_name = application_name
        self.executor_id = executor_id
        self.poll_seconds = poll_seconds
        self.engine = engine
        """tether's engine, for waking workers on PostgreSQL (none: always queue)."""
        self._live = (
            LiveWorkers(engine, fresh_seconds=live_after_seconds) if engine is not None else None
        )
        self.concurrency = 0
        self._client: DBOSClient | None = None
        self._listener: Listener | None = None
        self._launched = False
        self.reported_elsewhere: dict[str, int] = {}
        """Segments waiting for other workers, as last reported (reported on change)."""
        self.before_start: Callable[[], None] | None = None
        """Called once, before the first segment is started from here: a runtime that
        launches only when it has a segment to run (see ``Runtime.launch``)."""

    @property
    def launched(self) -> bool:
        return self._launched

    def launch(self, runner: SegmentRunner, *, concurrency: int) -> None:
        """Execute segments in this process (a worker), ``concurrency`` at once."""
        if _Process.owner is not None and _Process.owner is not self:
            raise RuntimeError(
                "another tether runtime is already launched in this process; close it first"
            )
        _Process.owner, _Process.runner = self, runner
        config: DBOSConfig = {
            "name": self.application_name,
            "system_database_url": self.url,
            "application_version": self.application_version,
            "executor_id": self.executor_id,
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": 0.2,
        }
        DBOS(config=config)
        DBOS.launch()
        DBOS.register_queue(
            QUEUE, worker_concurrency=concurrency, polling_interval_sec=self.poll_seconds
        )
        self.concurrency = concurrency
        self._launched = True
        if self.engine is not None and self.engine.dialect.name == "postgresql":
            self._listener = Listener(self.url, {SEGMENTS: self._heard})
            self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._launched:
            DBOS.destroy(workflow_completion_timeout_sec=5)
            self._launched = False
            _Process.owner = _Process.runner = None
        if self._client is not None:
            self._client.destroy()
            self._client = None

    @property
    def client(self) -> DBOSClient:
        if self._client is None:
            # A client does not create DBOS's tables: a fresh database needs them
            # before the first segment can be queued.
            DBOS.migrate(self.url)
            self._client = DBOSClient(
                system_database_url=self.url, application_name=self.application_name
            )
        return self._client

    def start(self, run_id: str, segment: int, *, state_version: int = DURABLE_VERSION) -> str:
        """Have a segment run as soon as possible; how: ``"here"`` (started in this
        process), ``"woken"`` (the live workers notified) or ``"queued"``."""
        if self.before_start is not None:
            prepare, self.before_start = self.before_start, None
            prepare()
        if self._start_here(run_id, segment, state_version):
            return "here"
        if (
            not self._launched
            and self.engine is not None
            and self._live is not None
            and self._live.any()
        ):
            notify(self.engine, SEGMENTS, f"{run_id} {segment} {state_version}")
            return "woken"
        self.enqueue(run_id, segment, state_version=state_version)
        return "queued"

    def has_room(self) -> bool:
        """Whether this process runs segments and runs fewer than it may at once."""
        return self._launched and _Process.owner is self and _Process.active < self.concurrency

    def _start_here(self, run_id: str, segment: int, state_version: int) -> bool:
        inside = DBOS.workflow_id is not None
        if state_version > DURABLE_VERSION or not self._launched or _Process.owner is not self:
            return False
        # A segment that parks and finds its calls decided already is ending: the next
        # one takes its place.
        if _Process.active - (1 if inside else 0) >= self.concurrency:
            return False
        if not inside:
            self._start_workflow(run_id, segment)
            return True
        # Started inside the segment's workflow it would be that workflow's child: it is
        # started from a thread of its own, which runs in no workflow's context. Should
        # that fail, the segment is queued instead (and the run, marked queued, is
        # queued again by the sweep if even that is lost).
        started: list[bool] = []

        def start() -> None:
            try:
                self._start_workflow(run_id, segment)
            except Exception:
                _log.exception("starting segment %s of run %s here failed", segment, run_id)
                return
            started.append(True)

        starter = threading.Thread(target=start, name="tether-resume", daemon=True)
        starter.start()
        starter.join()
        return bool(started)

    @staticmethod
    def _start_workflow(run_id: str, segment: int) -> None:
        with SetWorkflowID(segment_id(run_id, segment)):
            DBOS.start_workflow(run_segment, run_id, segment)

    def _heard(self, payload: str) -> None:
        """A segment to run, notified by another process: here if there is room, else
        onto the queue (whichever worker comes first, the segment runs once)."""
        run_id, segment, state_version = payload.split()
        if not self._start_here(run_id, int(segment), int(state_version)):
            self.enqueue(run_id, int(segment), state_version=int(state_version))

    def enqueue(self, run_id: str, segment: int, *, state_version: int = DURABLE_VERSION) -> None:
        """Queue a segment for the workers that can read its run's state: this
        runtime's, unless the state was written by a newer protocol (then for its)."""
        version = self.application_version
        if state_version > DURABLE_VERSION:
            version = durable_application_version(state_version)
        self.client.enqueue(
            {
                "queue_name": QUEUE,
                "workflow_name": WORKFLOW,
                "workflow_id": segment_id(run_id, segment),
                "app_version": version,
            },
            run_id,
            segment,
        )

    def foreign_segments(self, workflow_ids: list[str]) -> dict[str, str]:
        """Of these segments' workflows, those queued for another application version
        (workers of another durable protocol must run them), with that version."""
        if not workflow_ids:
            return {}
        found = self.client.list_workflows(
            workflow_ids=workflow_ids, load_input=False, load_output=False
        )
        return {
            status.workflow_id: str(status.app_version)
            for status in found
            if status.status == "ENQUEUED" and status.app_version != self.application_version
        }

    def cancel(self, run_id: str, segment: int) -> None:
        """Cancel a segment's workflow, if it has one (a parked run has none)."""
        workflow = segment_id(run_id, segment)
        _CANCELLED_HERE.append(workflow)
        try:
            self.client.cancel_workflow(workflow)
        except Exception:  # no such workflow
            return

    def recover(self, executor_ids: list[str]) -> int:
        """Put the segments that dead workers left in flight back on the queue; how many.

        Steps they finished are not run again; the step in flight is (the effect ledger
        makes that a no-op for effects). Only from a launched process.
        """
        stranded = DBOS.list_workflows(
            status="PENDING",
            executor_id=executor_ids,
            app_version=self.application_version,
            name=WORKFLOW,
            load_input=False,
            load_output=False,
        )
        for workflow in stranded:
            DBOS.resume_workflow(workflow.workflow_id, queue_name=QUEUE)
        return len(stranded)
