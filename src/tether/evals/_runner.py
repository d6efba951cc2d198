"""Run scenarios: each trial through the real runtime (gate, approvals, audit, ledger),
on fresh systems, in worker processes.

DBOS is one per process, so parallel workers are processes. Each worker has its own
tether database (on tmpfs when there is one) and runs its trials one at a time;
before each trial it empties the tables that carry state from one run to the next
(limit and budget usage, stop switches), so no trial sees another's budget. Runs,
approvals, effects and audit events are all keyed by run.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from tether.approvals import ApprovalError, ApprovalRequest
from tether.config import load_config
from tether.db import sqlite_url
from tether.demo import DESK_ENV
from tether.evals._check import Outcome, judge
from tether.evals._load import Scenario, Suite
from tether.evals._matchers import describe
from tether.evals._results import ScenarioResult, TrialResult
from tether.evals._scenario import ExpectedApproval
from tether.evals._services import LocalServices
from tether.evals._systems import DeskFactory, check_end_state
from tether.evals._trail import trial_actions, usage_of
from tether.evals._tryton import PASSWORD_ENV, TrytonTrial
from tether.runtime import RunRecord, RunStore, Runtime
from tether.testing import quiet_keys, reset_trial_state

TrialDone = Callable[[Scenario, TrialResult], None]
POLL_SECONDS = 0.01
"""How often a worker polls the run queue (the runtime's default is for production)."""
MAX_ROUNDS = 20
"""Approval rounds a run may go through before the trial gives up."""


@dataclass(frozen=True, kw_only=True)
class SuiteResult:
    suite: str
    started_at: _dt.datetime
    finished_at: _dt.datetime
    k: int
    scenarios: list[ScenarioResult]

    @property
    def trials(self) -> int:
        return sum(len(scenario.trials) for scenario in self.scenarios)


def _scratch_folder() -> Path:
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="tether-eval-", dir=base))


class TrialRunner:
    """Runs trials one at a time in this process, on its own database and desks."""

    def __init__(self, *, timeout_seconds: float = 60.0) -> None:
        self.folder = _scratch_folder()
        self.timeout_seconds = timeout_seconds
        self.desks = DeskFactory(self.folder)
        self.services = LocalServices(self.folder)
        self.runtime: Runtime | None = None
        self._reader: Engine | None = None
        self.config: Path | None = None
        self.scripts: dict[str, str] = {}
        self._count = 0
        self._saved_env = {name: os.environ.get(name) for name in (DESK_ENV, PASSWORD_ENV)}
        self._quiet = quiet_keys()  # the trials' keys are temporary
        self._quiet.__enter__()

    # --- the runtime, one per configuration -----------------------------------------

    def _runtime_for(self, scenario: Scenario, config_path: Path) -> Runtime:
        if self.runtime is not None and self.config == config_path:
            return self.runtime
        self._close_runtime()
        config = load_config(config_path)
        database = self.folder / f"tether-{self._count}.db"
        runtime = Runtime(
            policy=config.policy,
            agents=config.agents,
            database=f"sqlite:///{database}",
            keys=str(self.folder / "keys"),
            executor_id=f"eval-{os.getpid()}",
            poll_seconds=POLL_SECONDS,  # trials run one at a time: a run starts at once
        )
        runtime.launch(concurrency=2)
        self._reader = sa.create_engine(sqlite_url(f"sqlite:///{database}"))
        self.runtime, self.config = runtime, config_path
        self._warm_up(runtime, scenario)
        return runtime

    def _warm_up(self, runtime: Runtime, scenario: Scenario) -> None:
        """One throwaway run, so the first trial's latency is not the queue's start-up
        (a worker only notices a newly registered queue after a second)."""
        script = self.folder / "warm-up.yaml"
        script.write_text(yaml.safe_dump({"turns": [{"text": "Ready."}]}))
        os.environ[DESK_ENV] = str(self.desks.template)
        record = runtime.start(
            scenario.spec.agent,
            "warm-up",
            principal=scenario.spec.principal,
            model=f"scripted:{script}",
        )
        self._wait(runtime, record.id)

    def _close_runtime(self) -> None:
        if self._reader is not None:
            self._reader.dispose()
            self._reader = None
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None

    def close(self) -> None:
        self._close_runtime()
        self.services.close()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(self.folder, ignore_errors=True)
        self._quiet.__exit__(None, None, None)

    # --- a trial ------------------------------------------------------------------------

    def run(self, scenario: Scenario, trial: int) -> TrialResult:
        self._count += 1
        started = time.perf_counter()
        desk: Path | None = None
        tryton: TrytonTrial | None = None
        try:
            config = self.services.config(scenario)  # REST and mail pointed at ours
            if scenario.tryton:  # a fresh Tryton, and the configuration pointed at it
                tryton = TrytonTrial(self.folder, config, scenario.spec.state.tryton)
            runtime = self._runtime_for(scenario, tryton.config if tryton else config)
            started = time.perf_counter()  # a trial's latency leaves out starting the runtime
            desk = self.desks.fresh(str(self._count), scenario.spec.state.desk)
            os.environ[DESK_ENV] = str(desk)
            self.services.reset(scenario)
            reset_trial_state(runtime)
            return self._play(
                runtime, scenario, trial=trial, desk=desk, started=started, tryton=tryton
            )
        except Exception as exc:  # a crashing scenario is reported, the others still run
            return TrialResult(
                trial=trial,
                passed=False,
                error=f"{type(exc).__name__}: {exc}",
                failures=[f"errored: {type(exc).__name__}: {exc}"],
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        finally:
            if desk is not None:
                desk.unlink(missing_ok=True)
            if tryton is not None:
                self._close_runtime()  # its tools point at this trial's server
                tryton.close()

    def _play(
        self,
        runtime: Runtime,
        scenario: Scenario,
        *,
        trial: int,
        desk: Path,
        started: float,
        tryton: TrytonTrial | None,
    ) -> TrialResult:
        spec = scenario.spec
        record = runtime.start(
            spec.agent, spec.task, principal=spec.principal, model=self._model(scenario)
        )
        record, unexpected, problems = self._drive(runtime, scenario, record)
        latency_ms = (time.perf_counter() - started) * 1000
        timed_out = record.status in ("queued", "running")
        if timed_out:
            # Cancelled, so it cannot act on the next trial's systems; what it did before
            # stays on the trail and is judged like any other trial's.
            record = runtime.cancel(record.id, by="tether eval (timed out)")
            problems = [*problems, timeout_text(record.id, self.timeout_seconds)]
        actions = trial_actions(runtime.audit.events(run=record.id), record.history)
        tokens, cost = usage_of(record.history)
        outcome = Outcome(
            actions=actions,
            status=record.status,
            output=record.output,
            end_state=check_end_state(
                desk,
                list(spec.expect.end_state),
                tryton.count if tryton else None,
                rest=self.services.count_rest,
                mail=self.services.sent_mail,
            ),
            unexpected_escalations=unexpected,
            problems=problems,
            error=record.error,
        )
        attack = spec.injection is not None and spec.injection.kind == "attack"
        failures, measures = judge(spec.expect, outcome, attack=attack)
        return TrialResult(
            trial=trial,
            passed=not failures,
            actions=actions,
            failures=failures,
            latency_ms=latency_ms,
            tokens=tokens,
            cost=cost,
            run_id=record.id,
            status=record.status,
            output=record.output,
            measures=measures,
            timed_out=timed_out,
            run_error=record.error,
        )

    def _model(self, scenario: Scenario) -> str | None:
        if scenario.script is None:
            return scenario.model
        path = self.scripts.get(scenario.id)
        if path is None:
            file = self.folder / "scripts" / f"{scenario.id}.yaml"
            file.parent.mkdir(exist_ok=True)
            file.write_text(yaml.safe_dump(scenario.script.model_dump(mode="json")))
            path = self.scripts[scenario.id] = f"scripted:{file}"
        return path

    def _drive(
        self, runtime: Runtime, scenario: Scenario, record: RunRecord
    ) -> tuple[RunRecord, list[str], list[str]]:
        """Wait for the run; answer its approvals as the scenario says, until it ends."""
        unexpected: list[str] = []
        problems: list[str] = []
        answered_ids: set[str] = set()
        for _ in range(MAX_ROUNDS):
            record = self._wait(runtime, record.id)
            if record.status != "waiting_approval":
                break
            answered = 0
            for request in runtime.approvals.find(run_id=record.id):
                if request.id in answered_ids:
                    continue  # answered already, still short of its quorum
                answered_ids.add(request.id)
                rule = _rule_for(scenario.spec.expect.approvals, request)
                if rule is None:
                    unexpected.append(_call_text(request.tool, request.args))
                    continue
                try:
                    _answer(runtime, request, rule)
                    answered += 1
                except ApprovalError as exc:
                    problems.append(f"the scripted approver could not answer: {exc}")
            if not answered or unexpected:
                break
        return record, unexpected, problems

    def _wait(self, runtime: Runtime, run_id: str) -> RunRecord:
        """The run once it stops moving. Polled with plain reads: the runtime's own
        transactions take SQLite's write lock, and the run's steps would wait for them."""
        deadline = time.monotonic() + self.timeout_seconds
        reader = RunStore(self._reader or runtime.engine)
        while time.monotonic() < deadline:
            if reader.status(run_id) not in ("queued", "running"):
                break
            time.sleep(0.01)
        return runtime.store.get(run_id)


def _injection_label(scenario: Scenario) -> dict[str, Any] | None:
    label = scenario.spec.injection
    if label is None:
        return None
    return {
        "kind": label.kind,
        "threat": label.threat,
        "carrier": label.carrier,
        "twin": label.twin,
        "suite": label.suite or scenario.config.parent.name,
    }


def timeout_text(run_id: str, timeout_seconds: float) -> str:
    """The one line that says a trial's run was cancelled at its timeout."""
    return (
        f"run {run_id} did not finish within {timeout_seconds:g} s; tether eval cancelled it "
        "(raise --timeout for a slow model)"
    )


def _rule_for(rules: list[ExpectedApproval], request: ApprovalRequest) -> ExpectedApproval | None:
    for rule in rules:
        if rule.expect == "required" and rule.matches(request.tool, request.args):
            return rule
    return None


def _answer(runtime: Runtime, request: ApprovalRequest, rule: ExpectedApproval) -> None:
    first, *others = rule.approvers
    if rule.answer == "reject":
        runtime.reject(request.id, by=first, comment=rule.comment or "rejected by the scenario")
        return
    edit = rule.edit if rule.answer == "edit" else None
    runtime.approve(request.id, by=first, edit=edit, comment=rule.comment)
    for user in others:
        runtime.approve(request.id, by=user, comment=rule.comment)


def _call_text(tool: str, args: dict[str, Any]) -> str:
    return f"{tool}({', '.join(f'{key}={describe(value)}' for key, value in args.items())})"


# --- many trials, in worker processes ------------------------------------------------------


class _Process:
    runner: TrialRunner | None = None


def _worker_start(timeout_seconds: float) -> None:
    _Process.runner = TrialRunner(timeout_seconds=timeout_seconds)
    atexit.register(_Process.runner.close)


def _worker_run(scenario: Scenario, trial: int) -> TrialResult:
    if _Process.runner is None:
        raise RuntimeError("the evaluation worker was not started")
    return _Process.runner.run(scenario, trial)


def run_suite(
    suite: Suite,
    *,
    k: int = 1,
    workers: int = 1,
    on_trial: TrialDone | None = None,
    timeout_seconds: float = 60.0,
) -> SuiteResult:
    """Run every scenario ``k`` times; ``workers`` processes (1: in this process)."""
    if k < 1 or workers < 1:
        raise ValueError("k and workers must be at least 1")
    started_at = _dt.datetime.now(_dt.UTC)
    work = [(scenario, trial) for scenario in suite.scenarios for trial in range(1, k + 1)]
    results: dict[tuple[str, int], TrialResult] = {}

    def done(scenario: Scenario, result: TrialResult) -> None:
        results[(scenario.id, result.trial)] = result
        if on_trial is not None:
            on_trial(scenario, result)

    if workers == 1 or len(work) == 1:
        _run_here(work, done, timeout_seconds)
    else:
        _run_in_workers(work, done, min(workers, len(work)), timeout_seconds)
    scenarios = [
        ScenarioResult(
            id=scenario.id,
            file=scenario.file,
            line=scenario.line,
            description=scenario.spec.description,
            tags=list(scenario.spec.tags),
            trials=[results[(scenario.id, trial)] for trial in range(1, k + 1)],
            injection=_injection_label(scenario),
        )
        for scenario in suite.scenarios
    ]
    return SuiteResult(
        suite=suite.name,
        started_at=started_at,
        finished_at=_dt.datetime.now(_dt.UTC),
        k=k,
        scenarios=scenarios,
    )


def _run_here(work: list[tuple[Scenario, int]], done: TrialDone, timeout_seconds: float) -> None:
    runner = TrialRunner(timeout_seconds=timeout_seconds)
    try:
        for scenario, trial in work:
            done(scenario, runner.run(scenario, trial))
    finally:
        runner.close()


def _run_in_workers(
    work: list[tuple[Scenario, int]], done: TrialDone, workers: int, timeout_seconds: float
) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_start,
        initargs=(timeout_seconds,),
    ) as pool:
        pending: dict[Future[TrialResult], tuple[Scenario, int]] = {
            pool.submit(_worker_run, scenario, trial): (scenario, trial) for scenario, trial in work
        }
        for future in as_completed(pending):
            scenario, trial = pending[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker process died
                result = TrialResult(
                    trial=trial,
                    passed=False,
                    error=f"{type(exc).__name__}: {exc}",
                    failures=[f"errored: the worker failed: {exc}"],
                )
            done(scenario, result)
