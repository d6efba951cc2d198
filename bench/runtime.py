"""Runtime benchmark: tether beside the frameworks it competes with, on the same scripted
workloads; parked runs' memory; approvals resumed per second.

    .venv/bin/python bench/runtime.py [--quick] [--profile] [--only a|r|s|b|c]

The machine may be shared: every part prints ratios measured side by side in the same
run, and the load average is printed first. Nothing is asserted.

(a) A 20-tool-call run (a scripted model, trivial tools, SQLite, one process), the six
    stacks interleaved: plain Pydantic AI; Pydantic AI + DBOS (one workflow, each model
    request and each tool call a step, started directly); LangGraph (``create_agent``,
    SqliteSaver, ``durability="sync"`` and the default); the OpenAI Agents SDK
    (SQLiteSession); tether, governed and durable (started with ``Runtime.start`` in
    a launched process, followed with a ``RunHandle``). Median wall and CPU time (all
    threads) of each, and their ratios to plain Pydantic AI and to LangGraph sync
    (target: tether <= 1.0x LangGraph sync). --profile adds where tether's time goes.
(r) Resuming after an approval, embedded: tether (the decision by ``Runtime.approve``
    in the launched process), LangGraph (``HumanInTheLoopMiddleware``, resumed with
    ``Command(resume=...)``, sync durability) and the OpenAI Agents SDK
    (``needs_approval``, the run state saved as a string and resumed). p50 from the
    decision to the run's end, and tether's from the decision to its resumed segment's
    first step (target <= 25 ms).
(s) Fresh processes: ``tether approvals list``, ``tether approvals approve``, ``tether
    audit verify --help`` (target <= 0.5 s each) and ``tether worker`` until ready (<= 1
    s), on SQLite and PostgreSQL: ``bench/startup.py``, which runs on its own too.
(b) Runs parked on approval (10,000; --quick: 1,000), executed by one worker process
    (SQLite on tmpfs when there is one: memory does not depend on fsync, time does):
    the worker's resident memory as they park, and one sweep at the end (no sweeps
    while parking). Target < 300 MB.
(c) Approvals resumed per second on PostgreSQL with two worker processes (when
    TETHER_TEST_DATABASE_URL is set; a database of its own, dropped afterwards): N runs
    parked, then all approved from this process (8 threads); approvals/s from the first
    approval to the last run completed, and the CPU each approved run costs. Then the
    same resumption in plain Pydantic AI + DBOS (a run parked on a tool that
    requires_approval, resumed with its approval: the tool and the model as steps),
    on two workers of its own, for the ratio. Once tuned (--poll, 16 segments at
    once), once as shipped. Target >= 200/s.

A worker dequeues at most "concurrency" segments per poll of the DBOS queue; (a), (b)
and the tuned (c) set the polling interval to --poll (default 0.05 s), "as shipped"
keeps what Runtime.launch() registers. Workers are subprocesses of this script
(--worker). Nothing is asserted; the numbers are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from dbos import DBOS, DBOSConfig, SetWorkflowID
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import (
    DeferredToolRequests,
    DeferredToolResults,
    FunctionToolset,
    ModelMessagesTypeAdapter,
    RunContext,
    WrapperToolset,
)
from pydantic_ai import Tool as PydanticTool
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.wrapper import WrapperModel
from sqlalchemy import event

import frameworks
from tether import __version__
from tether.agents import Agent, load_script, model_tool_name, scripted_model
from tether.policy import Policy, load_policy_text
from tether.runtime import QUEUE, Runtime
from tether.runtime._tables import run as run_table
from tether.tools import Effect, ToolContext, Toolset, tool

POSTGRES_ENV = "TETHER_TEST_DATABASE_URL"
AGENT = "bench"
BASELINE_QUEUE = "bench-baseline"
BASELINE_WORKFLOW = "bench.baseline_run"
BASELINE_RESUME = "bench.baseline_resume"
AS_SHIPPED = 0.0
"""As a --poll value: keep the queue settings Runtime.launch() registers."""

# --- the tools, the policy, the scripts ------------------------------------------------


@tool(name="bench.lookup", effect=Effect.READ, idempotent=True)
def lookup(n: int) -> dict[str, int]:
    """Look a number up."""
    return {"n": n, "square": n * n}


@tool(name="bench.commit", effect=Effect.IRREVERSIBLE, idempotent=True)
def commit(ctx: ToolContext, n: int) -> dict[str, Any]:
    """Commit a number (irreversible: a person approves it)."""
    return {"n": n, "key": ctx.idempotency_key}


TOOLS = Toolset([lookup, commit])
POLICY = """
version: 1
roles:
  clerk: {may: ["bench.*"]}
  lead: {may: ["bench.*"]}
users:
  carl: {roles: [clerk]}
  lena: {roles: [lead]}
agents:
  bench:
    may_act_for: [role:clerk]
    tools:
      - {id: lookups, tool: bench.lookup}
      - id: commits
        tool: bench.commit
        approval: {approvers: [role:lead], quorum: 1, expires: 24h}
"""


def load_bench_policy() -> Policy:
    return load_policy_text(POLICY, file="bench-policy.yaml", tools=TOOLS)


def write_scripts(folder: Path) -> dict[str, Path]:
    lookups = {
        "turns": [
            {"text": f"Lookup {n}.", "calls": [{"tool": "bench.lookup", "args": {"n": n}}]}
            for n in range(20)
        ]
        + [{"text": "Twenty lookups done."}]
    }
    park = {
        "turns": [
            {"text": "Committing.", "calls": [{"tool": "bench.commit", "args": {"n": 7}}]},
            {"text": "Committed."},
        ]
    }
    paths = {"lookups": folder / "lookups.yaml", "park": folder / "park.yaml"}
    paths["lookups"].write_text(yaml.safe_dump(lookups))
    paths["park"].write_text(yaml.safe_dump(park))
    return paths


def make_runtime(
    database: str, keys: Path, script: Path, executor_id: str | None = None
) -> Runtime:
    policy = load_bench_policy()
    agent = Agent(name=AGENT, policy=policy, model=f"scripted:{script}")
    return Runtime(
        policy=policy, agents=[agent], database=database, keys=str(keys), executor_id=executor_id
    )


# --- the baseline: plain Pydantic AI + DBOS ----------------------------------------------


class _StepModel(WrapperModel):
    async def request(
        self, messages: list[ModelMessage], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        async def call() -> ModelResponse:
            return await self.wrapped.request(messages, *args, **kwargs)

        response: ModelResponse = await DBOS.run_step_async(
            {"name": "baseline.model_request"}, call
        )
        return response


class _StepTools(WrapperToolset[None]):
    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[None], tool: Any
    ) -> Any:
        wrapped = self.wrapped

        async def call() -> Any:
            return await wrapped.call_tool(name, tool_args, ctx, tool)

        return await DBOS.run_step_async({"name": "baseline.tool_call"}, call)


_BASELINE_AGENTS: dict[str, PydanticAgent[None, Any]] = {}


def baseline_agent(script: str, *, durable: bool = True) -> PydanticAgent[None, Any]:
    """The bench's tools without tether: ``bench.commit`` asks for approval the way
    Pydantic AI does it (``requires_approval``: the run ends with the deferred call)."""
    key = f"{script}|{durable}"
    if key not in _BASELINE_AGENTS:
        model = scripted_model(load_script(script))
        tools = FunctionToolset(
            [
                PydanticTool(lookup.function, name=model_tool_name(lookup.name)),
                PydanticTool(
                    _baseline_commit, name=model_tool_name(commit.name), requires_approval=True
                ),
            ],
            id="bench",
        )
        _BASELINE_AGENTS[key] = PydanticAgent(
            _StepModel(model) if durable else model,
            toolsets=[_StepTools(tools) if durable else tools],
            output_type=[str, DeferredToolRequests],
        )
    return _BASELINE_AGENTS[key]


def _baseline_commit(n: int) -> dict[str, Any]:
    return {"n": n}


@DBOS.workflow(name=BASELINE_WORKFLOW)
async def baseline_run(script: str, task: str) -> str:
    with PydanticAgent.parallel_tool_call_execution_mode("sequential"):
        result = await baseline_agent(script).run(task)
    return str(result.output)


@DBOS.workflow(name=BASELINE_RESUME)
async def baseline_resume(script: str, history: str, call_id: str) -> str:
    """A run parked for approval, resumed with the approval: plain Pydantic AI + DBOS."""
    with PydanticAgent.parallel_tool_call_execution_mode("sequential"):
        result = await baseline_agent(script).run(
            message_history=ModelMessagesTypeAdapter.validate_json(history),
            deferred_tool_results=DeferredToolResults(approvals={call_id: True}),
        )
    return str(result.output)


def baseline_parked(script: str) -> tuple[str, str]:
    """The history of a plain run parked on ``bench.commit``, and the call's id."""
    with PydanticAgent.parallel_tool_call_execution_mode("sequential"):
        result = asyncio.run(baseline_agent(script, durable=False).run("commit 7"))
    assert isinstance(result.output, DeferredToolRequests), result.output
    return result.all_messages_json().decode(), result.output.approvals[0].tool_call_id


# --- helpers ----------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_workflow(rt: Runtime, workflow_id: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = rt.durability.client.list_workflows(
            workflow_ids=[workflow_id], load_input=False, load_output=False
        )
        if found and found[0].status in ("SUCCESS", "ERROR", "CANCELLED"):
            return found[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"workflow {workflow_id} did not finish")
        time.sleep(0.005)


def count_status(rt: Runtime, status: str) -> int:
    with rt.engine.connect() as conn:
        query = (
            sa.select(sa.func.count()).select_from(run_table).where(run_table.c.status == status)
        )
        return int(conn.execute(query).scalar_one())


def ratio_line(label: str, ours: float, theirs: float, target: float | None = None) -> str:
    ratio = ours / theirs if theirs else float("nan")
    verdict = ""
    if target is not None:
        missed = f"missed by {ratio / target - 1:.0%}"
        verdict = f"  (target <= {target:.1f}x: {'met' if ratio <= target else missed})"
    return (
        f"  {label:<36} tether {ours * 1000:7.1f} ms  baseline {theirs * 1000:7.1f} ms"
        f"  ratio {ratio:4.2f}x{verdict}"
    )


@contextmanager
def postgres_database(base: str) -> Iterator[str]:
    name = f"tether_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- workers (subprocesses) -------------------------------------------------------------


def worker_main(options: argparse.Namespace) -> int:
    """A worker like ``tether worker``: executes segments and sweeps, every ``--sweep``
    seconds (as ``tether worker`` does, every 5 s by default) or, with 0, on SIGUSR1."""
    stopping, wake = threading.Event(), threading.Event()

    def stop(*_: object) -> None:
        stopping.set()
        wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, lambda *_: wake.set())
    if options.baseline:
        return baseline_worker(options, stopping)
    rt = make_runtime(
        options.database, Path(options.keys), Path(options.script), options.executor_id
    )
    with rt:
        rt.launch(concurrency=options.concurrency)
        if options.poll != AS_SHIPPED:  # DBOS reloads the queue's settings on each poll
            DBOS.register_queue(
                QUEUE, worker_concurrency=options.concurrency, polling_interval_sec=options.poll
            )
        print("ready", flush=True)
        while True:
            wake.wait(options.sweep or None)
            wake.clear()
            if stopping.is_set():
                break
            started = time.perf_counter()
            rt.sweep()
            print(f"sweep {time.perf_counter() - started:.3f}", flush=True)
    return 0


def baseline_worker(options: argparse.Namespace, stopping: threading.Event) -> int:
    """A worker of the plain stack: DBOS as tether's workers launch it, polling only the
    baseline's queue like tether's (no tether runtime, no sweeps)."""
    config: DBOSConfig = {
        "name": "tether",
        "system_database_url": options.database.replace("postgresql+psycopg://", "postgresql://"),
        "application_version": f"tether-{__version__}",
        "executor_id": options.executor_id,
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": 0.2,
    }
    DBOS(config=config)
    DBOS.launch()
    DBOS.register_queue(
        BASELINE_QUEUE,
        worker_concurrency=options.concurrency,
        polling_interval_sec=options.poll if options.poll != AS_SHIPPED else 0.1,
    )
    print("ready", flush=True)
    stopping.wait()
    DBOS.destroy(workflow_completion_timeout_sec=5)
    return 0


class WorkerProcess:
    def __init__(
        self,
        database: str,
        folder: Path,
        script: Path,
        executor_id: str,
        *,
        concurrency: int,
        poll: float,
        sweep: float = 0.0,
        baseline: bool = False,
    ) -> None:
        self.log = folder / f"{executor_id}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--worker",
                    "--database",
                    database,
                    "--keys",
                    str(folder / "keys"),
                    "--script",
                    str(script),
                    "--executor-id",
                    executor_id,
                    "--concurrency",
                    str(concurrency),
                    "--poll",
                    str(poll),
                    "--sweep",
                    str(sweep),
                    *(["--baseline"] if baseline else []),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while "ready" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {executor_id} did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    @property
    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def sweeps(self) -> list[float]:
        """How long each of the worker's sweeps took, in seconds."""
        lines = self.log.read_text().splitlines()
        return [float(line.split()[1]) for line in lines if line.startswith("sweep ")]

    def sweep(self, timeout: float = 600.0) -> float:
        """Have the worker sweep once (SIGUSR1); how long it took."""
        done = len(self.sweeps())
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while len(self.sweeps()) == done:
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not sweep")
            time.sleep(0.1)
        return self.sweeps()[-1]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def park_runs(rt: Runtime, count: int, *, batch: int = 200, timeout: float = 600.0) -> float:
    """Start ``count`` more runs that park for approval (in batches); seconds until parked."""
    target = count_status(rt, "waiting_approval") + count
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for offset in range(0, count, batch):
            size = min(batch, count - offset)
            list(pool.map(lambda _: rt.start(AGENT, "commit 7", principal="carl"), range(size)))
    deadline = time.monotonic() + timeout
    while (parked := count_status(rt, "waiting_approval")) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {parked} of {target} parked")
        time.sleep(0.2)
    return time.perf_counter() - started


# --- (a) one run of 20 tool calls -------------------------------------------------------


def steps_of(rt: Runtime, workflow_id: str) -> list[Any]:
    return list(rt.durability.client.list_workflow_steps(workflow_id))


def inside(rt: Runtime, workflow_id: str) -> float:
    """Seconds from the workflow's first step starting to its last step ending (DBOS
    keeps a workflow's own times in whole seconds on SQLite; its steps' in ms)."""
    steps = steps_of(rt, workflow_id)
    first = min(step["started_at_epoch_ms"] for step in steps)
    last = max(step["completed_at_epoch_ms"] for step in steps)
    return float(last - first) / 1000


STACKS = (
    "Pydantic AI",
    "Pydantic AI + DBOS",
    "LangGraph sync",
    "LangGraph default",
    "OpenAI Agents SDK",
    "tether",
)
REFERENCE = "LangGraph sync"


@dataclass
class Measured:
    wall: list[float]
    cpu: list[float]

    def median(self) -> tuple[float, float]:
        return statistics.median(self.wall), statistics.median(self.cpu)


def measure(function: Any) -> tuple[float, float]:
    """Wall and CPU seconds (all of this process's threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_overhead(folder: Path, repeats: int, poll: float, profile: bool) -> None:
    print(
        "(a) a 20-tool-call run, scripted model, SQLite, one process: tether (governed and "
        "durable) beside plain Pydantic AI, Pydantic AI + DBOS, LangGraph (SQLite "
        "checkpointer, sync and default durability) and the OpenAI Agents SDK (SQLite session)"
    )
    folder.mkdir()
    scripts = write_scripts(folder)
    database = f"sqlite:///{folder / 'overhead.db'}"
    rt = make_runtime(database, folder / "keys", scripts["lookups"], "bench-a")
    with rt:
        rt.launch(concurrency=1)
        DBOS.register_queue(QUEUE, worker_concurrency=1, polling_interval_sec=poll)
        script = str(scripts["lookups"])
        graph = frameworks.langgraph_agent(folder, approval=False)
        openai = frameworks.openai_agent(approval=False)
        loop = asyncio.new_event_loop()

        def tether_once() -> None:
            record = rt.start(AGENT, "twenty lookups", principal="carl")
            done = rt.handle(record.id).wait(timeout_seconds=60)
            assert done.status == "completed", done.error

        def plain_once() -> None:
            with PydanticAgent.parallel_tool_call_execution_mode("sequential"):
                loop.run_until_complete(baseline_agent(script, durable=False).run("lookups"))

        def dbos_once() -> None:
            with SetWorkflowID(f"baseline-{uuid.uuid4().hex[:12]}"):
                handle = DBOS.start_workflow(baseline_run, script, "twenty lookups")
            handle.get_result()

        runs = {
            "Pydantic AI": plain_once,
            "Pydantic AI + DBOS": dbos_once,
            "LangGraph sync": lambda: frameworks.langgraph_run(graph, "sync"),
            "LangGraph default": lambda: frameworks.langgraph_run(graph, "async"),
            "OpenAI Agents SDK": lambda: loop.run_until_complete(
                frameworks.openai_run(openai, folder)
            ),
            "tether": tether_once,
        }
        for _ in range(2):  # warm up: imports, caches, the SQLite files
            for run in runs.values():
                run()
        found = {name: Measured([], []) for name in runs}
        for index in range(repeats):
            order = list(runs) if index % 2 == 0 else list(reversed(runs))
            for name in order:
                wall, cpu = measure(runs[name])
                found[name].wall.append(wall)
                found[name].cpu.append(cpu)
        loop.close()
        ref_wall, ref_cpu = found[REFERENCE].median()
        plain_wall, plain_cpu = found["Pydantic AI"].median()
        print(f"  {repeats} runs each, interleaved; medians; ratios measured in this run")
        print(
            f"  {'stack':<20} {'wall ms':>8} {'CPU ms':>8} {'wall/plain':>11} {'CPU/plain':>10}"
            f" {'wall/LG sync':>13} {'CPU/LG sync':>12}"
        )
        for name in STACKS:
            wall, cpu = found[name].median()
            print(
                f"  {name:<20} {wall * 1000:8.1f} {cpu * 1000:8.1f} {wall / plain_wall:10.2f}x"
                f" {cpu / plain_cpu:9.2f}x {wall / ref_wall:12.2f}x {cpu / ref_cpu:11.2f}x"
            )
        wall, cpu = found["tether"].median()
        for label, ours, theirs in (("wall", wall, ref_wall), ("CPU", cpu, ref_cpu)):
            ratio = ours / theirs
            print(
                f"  => tether's {label} is {ratio:.2f}x LangGraph sync's (target <= 1.00x: "
                f"{'met' if ratio <= 1 else f'missed by {ratio - 1:.0%}'})"
            )
        if profile:
            tether_id = f"{rt.store.find(agent=AGENT, limit=1)[0].id}/seg-1"
            baseline_id = next(
                w.workflow_id
                for w in rt.durability.client.list_workflows(
                    name=BASELINE_WORKFLOW, load_input=False, load_output=False
                )
            )
            print_steps(rt, tether_id, baseline_id)
            profile_segment(rt, script)


# --- resuming after an approval, embedded --------------------------------------------------


def bench_resume(folder: Path, count: int, poll: float) -> None:
    print(
        "(r) resuming after an approval, embedded (SQLite, one process): from the decision "
        "to the resumed run's first step, and to its end"
    )
    folder.mkdir()
    scripts = write_scripts(folder)
    rt = make_runtime(f"sqlite:///{folder / 'resume.db'}", folder / "keys", scripts["park"], "r")
    graph = frameworks.langgraph_agent(folder, approval=True)
    openai = frameworks.openai_agent(approval=True)
    loop = asyncio.new_event_loop()
    with rt:
        rt.launch(concurrency=4)
        DBOS.register_queue(QUEUE, worker_concurrency=4, polling_interval_sec=poll)
        parked = []
        for _ in range(count + 2):
            record = rt.start(AGENT, "commit 7", principal="carl")
            parked.append(rt.handle(record.id))
        requests = [handle.next_approval(timeout_seconds=60) for handle in parked]
        first: list[float] = []
        ended: dict[str, list[float]] = {
            "tether": [],
            "LangGraph sync": [],
            "OpenAI Agents SDK": [],
        }
        for index, (handle, request) in enumerate(zip(parked, requests, strict=True)):
            assert request is not None
            decided_ms = time.time() * 1000
            started = time.perf_counter()
            rt.approve(request.id, by="lena")
            done = handle.wait(timeout_seconds=60)
            took = time.perf_counter() - started
            assert done.status == "completed", done.error
            if index >= 2:  # the first two warm up
                ended["tether"].append(took)
                first.append((first_step_ms(rt, handle.id) - decided_ms) / 1000)
        for index in range(count + 2):
            config = frameworks.langgraph_park(graph)
            took = measure(lambda c=config: frameworks.langgraph_resume(graph, c))[0]
            saved, session = loop.run_until_complete(frameworks.openai_park(openai, folder))
            resumed = measure(
                lambda s=saved, ss=session: loop.run_until_complete(
                    frameworks.openai_resume(openai, s, ss)
                )
            )[0]
            if index >= 2:
                ended["LangGraph sync"].append(took)
                ended["OpenAI Agents SDK"].append(resumed)
    loop.close()
    p50 = statistics.median
    print(f"  {count} resumptions each; p50")
    first_p50 = p50(first)
    print(
        f"  tether: decision -> first step of the resumed segment {first_p50 * 1000:.1f} ms "
        f"(the approved call executed; target <= 25 ms: "
        f"{'met' if first_p50 <= 0.025 else 'missed'})"
    )
    reference = p50(ended["LangGraph sync"])
    for name, values in ended.items():
        print(
            f"  {name:<20} decision -> run ended {p50(values) * 1000:7.1f} ms "
            f"({p50(values) / reference:.2f}x LangGraph sync)"
        )


def first_step_ms(rt: Runtime, run_id: str) -> float:
    """When the resumed segment's first step, the approved call, was executed (ms since
    the epoch): a segment of durable protocol 3 takes no DBOS step to time."""
    executed = list(rt.audit.events(run=run_id, type="call.executed"))
    return executed[-1].event.at.timestamp() * 1000


# --- fresh processes ---------------------------------------------------------------------


def bench_fresh(repeats: int) -> None:
    """(s): bench/startup.py, in a process of its own (it starts tether's processes)."""
    print("(s) fresh processes: the CLI's commands and a worker (bench/startup.py)", flush=True)
    startup = Path(__file__).with_name("startup.py")
    subprocess.run([sys.executable, str(startup), "--repeats", str(repeats)], check=False)


def _synchronous_full(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=FULL")


def print_steps(rt: Runtime, ours: str, theirs: str) -> None:
    print("  where the time goes, per DBOS step (one run each):")
    for label, workflow_id in (("tether", ours), ("baseline", theirs)):
        steps = steps_of(rt, workflow_id)
        if not steps:
            print(f"   {label}: no DBOS steps (the model's responses are in tether's ledger)")
            continue
        totals: dict[str, list[int]] = {}
        for step in steps:
            took = step["completed_at_epoch_ms"] - step["started_at_epoch_ms"]
            totals.setdefault(step["function_name"], []).append(took)
        span = inside(rt, workflow_id) * 1000
        within = sum(sum(times) for times in totals.values())
        print(
            f"   {label}: {len(steps)} steps in {span:.0f} ms: {within} ms inside steps, "
            f"{span - within:.0f} ms outside them (agent loop, checkpoints, begin and end)"
        )
        for name, times in sorted(totals.items(), key=lambda item: -sum(item[1])):
            each = sum(times) / len(times)
            print(f"     {name:<24} x{len(times):<3} {sum(times):5d} ms  ({each:.1f} ms each)")


_PACKAGES = (
    ("tether/audit", "tether.audit"),
    ("tether/gate", "tether.gate"),
    ("tether/policy", "tether.policy (CEL, matching)"),
    ("tether/approvals", "tether.approvals"),
    ("tether/runtime", "tether.runtime"),
    ("tether/", "tether (other)"),
    ("sqlalchemy", "SQLAlchemy"),
    ("sqlite3", "sqlite3 (the database itself)"),
    ("pydantic_ai", "Pydantic AI"),
    ("pydantic_graph", "Pydantic AI"),
    ("pydantic", "Pydantic"),
    ("asyncio", "asyncio"),
    ("json", "json"),
)


def _package(filename: str, function: str) -> str:
    text = f"{filename} {function}"
    for needle, label in _PACKAGES:
        if needle in text:
            return label
    return "other"


def profile_segment(rt: Runtime, script: str) -> None:
    """One tether segment and one plain run outside DBOS (no checkpoints): cProfile of
    the event loop's thread, and wall time in tether's functions (on any thread)."""
    record = rt.store.create(
        run_id=f"run_{uuid.uuid4().hex[:16]}",
        agent=AGENT,
        agent_version="1",
        principal="carl",
        task="twenty lookups",
    )
    counts = {"transactions": 0, "writes": 0, "statements": 0}

    def on_begin(_conn: Any) -> None:
        counts["transactions"] += 1

    def on_commit(_conn: Any) -> None:
        counts["writes"] += 1

    def on_statement(*_: Any) -> None:
        counts["statements"] += 1

    timed = _timed_functions(rt)
    event.listen(rt.engine, "begin", on_begin)
    event.listen(rt.engine, "commit", on_commit)
    event.listen(rt.engine, "before_cursor_execute", on_statement)
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(rt.run_segment(record.id, 1))
    profiler.disable()
    event.remove(rt.engine, "begin", on_begin)
    event.remove(rt.engine, "commit", on_commit)
    event.remove(rt.engine, "before_cursor_execute", on_statement)
    for undo in timed.undo:
        undo()
    print(
        f"  tether's own database work in one 20-call segment: {counts['transactions']} "
        f"transactions ({counts['writes']} committed writes, the rest reads), "
        f"{counts['statements']} statements (the baseline: none)"
    )
    plain = cProfile.Profile()
    plain.enable()
    with PydanticAgent.parallel_tool_call_execution_mode("sequential"):
        asyncio.run(baseline_agent(script, durable=False).run("twenty lookups"))
    plain.disable()
    for label, profiled in (("tether segment", profiler), ("plain Pydantic AI run", plain)):
        stats: dict[tuple[str, int, str], Any] = pstats.Stats(profiled).stats  # type: ignore[attr-defined]
        total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.values())
        groups: dict[str, float] = {}
        for (filename, _line, function), (_cc, _nc, tt, _ct, _callers) in stats.items():
            key = _package(filename, function)
            groups[key] = groups.get(key, 0.0) + tt
        shares = ", ".join(
            f"{key} {tt * 1000:.0f}"
            for key, tt in sorted(groups.items(), key=lambda item: -item[1])
            if tt * 1000 >= 1
        )
        print(
            f"  cProfile of the event loop's thread (no DBOS; inflated by profiling) {label}: "
            f"{total * 1000:.0f} ms"
        )
        print(f"     own time by package, ms: {shares}")
    print("     tether functions (wall time, on whichever thread ran them):")
    for label, (calls, seconds) in timed.totals.items():
        if calls:
            print(f"       {label:<48} {seconds * 1000:6.1f} ms in {calls:3d} calls")


@dataclass
class _Timed:
    totals: dict[str, list[Any]]
    undo: list[Any]


def _timed_functions(rt: Runtime) -> _Timed:
    """Wrap the runtime's steps of a call to add up their wall time."""
    wanted = (
        (rt.calls, "propose", "a call's step (CallPath.propose)"),
        (rt.calls, "decide", "  deciding (CallPath.decide)"),
        (rt.store, "call_state", "    the run, the stop switch, the ledger: one read (call_state)"),
        (rt.gate, "assess", "    the gate's decision (Gate.assess)"),
        (rt.gate, "run", "  the tool and its output check (Gate.run)"),
        (rt.calls, "_settle", "  audit and effect ledger, one write (CallPath._settle)"),
    )
    timed = _Timed(totals={label: [0, 0.0] for _, _, label in wanted}, undo=[])
    for owner, name, label in wanted:
        original = getattr(owner, name)
        total = timed.totals[label]
        if asyncio.iscoroutinefunction(original):

            async def async_wrapper(*a: Any, _f: Any = original, _t: Any = total, **k: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await _f(*a, **k)
                finally:
                    _t[0] += 1
                    _t[1] += time.perf_counter() - started

            setattr(owner, name, async_wrapper)
        else:

            def wrapper(*a: Any, _f: Any = original, _t: Any = total, **k: Any) -> Any:
                started = time.perf_counter()
                try:
                    return _f(*a, **k)
                finally:
                    _t[0] += 1
                    _t[1] += time.perf_counter() - started

            setattr(owner, name, wrapper)
        if name in vars(owner):  # an instance attribute: put it back
            timed.undo.append(lambda o=owner, n=name, f=original: setattr(o, n, f))
        else:  # a method: uncover the class's
            timed.undo.append(lambda o=owner, n=name: delattr(o, n))
    return timed


# --- (b) runs parked on approval ---------------------------------------------------------


def bench_parked(folder: Path, count: int, poll: float, concurrency: int) -> None:
    folder.mkdir()
    # Memory does not depend on how fast the disk syncs: on tmpfs (no fsync cost) the
    # runs park several times faster, which keeps the benchmark short.
    shm = Path("/dev/shm")
    place = Path(tempfile.mkdtemp(prefix="tether-bench-", dir=shm)) if shm.is_dir() else folder
    where = "on tmpfs" if place != folder else "on disk"
    print(f"(b) {count:,} runs parked on approval: the worker's memory (SQLite {where})")
    scripts = write_scripts(folder)
    database = f"sqlite:///{place / 'parked.db'}"
    producer = make_runtime(database, folder / "keys", scripts["park"])
    worker = WorkerProcess(
        database, folder, scripts["park"], "bench-b", concurrency=concurrency, poll=poll
    )
    try:
        park_runs(producer, 50)  # warm up
        before = worker.rss_mb
        chunk = max(250, count // 5)
        parked, took, samples = 50, 0.0, [f"{before:.0f} at 50"]
        while parked < count:
            size = min(chunk, count - parked)
            took += park_runs(producer, size)
            parked += size
            samples.append(f"{worker.rss_mb:.0f} at {parked:,}")
        after = worker.rss_mb
        swept = worker.sweep()
        print(
            f"  parked {parked:,} runs in {took:.0f} s ({(parked - 50) / took:.0f} runs/s; "
            f"queue polled every {poll:g} s, {concurrency} segments at once, no sweeps meanwhile)"
        )
        print(f"  worker RSS, MB: {', '.join(samples)}; {worker.rss_mb:.0f} after one sweep")
        growth = (after - before) * 1024 / (parked - 50)
        print(
            f"  => {after:.0f} MB with {parked:,} parked (target < 300 MB: "
            f"{'met' if after < 300 else f'missed by {after - 300:.0f} MB'}); "
            f"{growth:.1f} KB more per run executed and parked"
        )
        print(
            f"  one sweep (`tether worker` sweeps every 5 s) took {swept:.1f} s "
            f"with {parked:,} runs parked"
        )
    finally:
        worker.stop()
        producer.close()
        if place != folder:
            shutil.rmtree(place, ignore_errors=True)


# --- (c) approvals per second, two workers on PostgreSQL -----------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (its CPU is part of the cost)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def bench_approvals(
    base: str, folder: Path, count: int, poll: float, concurrency: int, *, label: str
) -> None:
    folder.mkdir()
    with postgres_database(base) as database:
        scripts = write_scripts(folder)
        producer = make_runtime(database, folder / "keys", scripts["park"])

        def workers(kind: str, *, baseline: bool = False) -> list[WorkerProcess]:
            return [
                WorkerProcess(
                    database,
                    folder,
                    scripts["park"],
                    f"bench-{kind}{n}",
                    concurrency=concurrency,
                    poll=poll,
                    baseline=baseline,
                )
                for n in (1, 2)
            ]

        try:
            ours_workers = workers("c")
            try:
                took = park_runs(producer, count)
                requests = producer.approvals.find(agent=AGENT)
                polled = (
                    f"every {poll:g} s" if poll != AS_SHIPPED else "as Runtime.launch() sets it"
                )
                print(
                    f"  {label}: queue polled {polled}, {concurrency} segments at once per "
                    f"worker; {count:,} runs parked in {took:.1f} s"
                )
                ours = _resumed(
                    "tether",
                    ours_workers,
                    count,
                    approve=lambda: _in_threads(
                        lambda r: producer.approve(r.id, by="lena"), requests
                    ),
                    done=lambda: count_status(producer, "completed"),
                )
            finally:
                for worker in ours_workers:
                    worker.stop()
            # The same resumption without tether, by two workers of the plain stack that
            # poll their own queue alike: each "approval" enqueues the parked run's
            # history with the call approved (no gate, audit, approvals, effect ledger).
            history, call_id = baseline_parked(str(scripts["park"]))
            script = str(scripts["park"])

            def enqueue_baseline(n: int) -> None:
                producer.durability.client.enqueue(
                    {
                        "queue_name": BASELINE_QUEUE,
                        "workflow_name": BASELINE_RESUME,
                        "workflow_id": f"baseline-resume-{n}",
                    },
                    script,
                    history,
                    call_id,
                )

            plain_workers = workers("plain", baseline=True)
            try:
                theirs = _resumed(
                    "plain Pydantic AI + DBOS",
                    plain_workers,
                    count,
                    approve=lambda: _in_threads(enqueue_baseline, range(count)),
                    done=lambda: _baseline_done(producer),
                )
            finally:
                for worker in plain_workers:
                    worker.stop()
            print(
                f"    tether resumes {ours / theirs:.2f}x as many runs a second as the plain "
                f"stack on this machine ({ours:.0f}/s vs {theirs:.0f}/s)"
            )
        finally:
            producer.close()


def _in_threads(function: Any, items: Any) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(function, items))


def _baseline_done(rt: Runtime) -> int:
    query = sa.text(
        "SELECT count(*) FROM dbos.workflow_status WHERE name = :name AND status = 'SUCCESS'"
    )
    with rt.engine.connect() as conn:
        return int(conn.execute(query, {"name": BASELINE_RESUME}).scalar_one())


def _resumed(
    label: str, workers: list[WorkerProcess], count: int, *, approve: Any, done: Any
) -> float:
    """Approve ``count`` parked runs (``approve``), wait until ``done()`` reaches
    ``count``; print the rate and the CPU each resumed run cost; return the rate."""
    pids = {
        "workers": [worker.process.pid for worker in workers],
        "PostgreSQL": postgres_pids(),
        "approver": [os.getpid()],
    }
    cpu = {name: cpu_seconds(group) for name, group in pids.items()}
    started = time.perf_counter()
    approve()
    decided = time.perf_counter() - started
    deadline = time.monotonic() + 600
    while (finished := done()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {finished} of {count} runs completed")
        time.sleep(0.05)
    resumed = time.perf_counter() - started
    # PostgreSQL's backends for connections opened meanwhile count from zero.
    pids["PostgreSQL"] = sorted(set(pids["PostgreSQL"]) | set(postgres_pids()))
    used = {name: cpu_seconds(group) - cpu[name] for name, group in pids.items()}
    rate = count / resumed
    verdict = "met" if rate >= 200 else f"missed by {1 - rate / 200:.0%}"
    print(
        f"    {label}: {count:,} approvals decided in {decided:.1f} s ({count / decided:.0f}/s); "
        f"all runs resumed and completed {resumed:.1f} s after the first: "
        f"{rate:.0f} approvals resumed/s (target >= 200/s: {verdict})"
    )
    busy = sum(used.values()) / resumed / (os.cpu_count() or 1)
    print(
        "      CPU per approved run: "
        + ", ".join(f"{name} {seconds / count * 1000:.1f} ms" for name, seconds in used.items())
        + f" (total {sum(used.values()) / count * 1000:.1f} ms); "
        f"the machine's {os.cpu_count()} cores were {busy:.0%} busy"
    )
    return rate


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs (1,000 parked)")
    parser.add_argument("--profile", action="store_true", help="where tether's time goes in (a)")
    parser.add_argument("--poll", type=float, default=0.05, help="queue polling interval, seconds")
    parser.add_argument(
        "--only", choices=["a", "r", "s", "b", "c"], action="append", help="run only these parts"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    parser.add_argument("--script", help=argparse.SUPPRESS)
    parser.add_argument("--executor-id", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--sweep", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        return worker_main(options)
    parts = set(options.only or ["a", "r", "s", "b", "c"])
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores: compare the ratios, not the times")
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp:
        folder = Path(tmp)
        if "a" in parts:
            repeats = 5 if options.quick else 25
            bench_overhead(folder / "a", repeats, options.poll, options.profile)
        if "r" in parts:
            bench_resume(folder / "r", 10 if options.quick else 40, options.poll)
        if "s" in parts:
            bench_fresh(3 if options.quick else 5)
        if "b" in parts:
            bench_parked(folder / "b", 1_000 if options.quick else 10_000, options.poll, 4)
        if "c" in parts:
            base = os.environ.get(POSTGRES_ENV)
            if not base:
                print(f"(c) approvals resumed per second: skipped, {POSTGRES_ENV} is not set")
            else:
                count = 300 if options.quick else 1_000
                print("(c) approvals resumed per second, PostgreSQL, two workers")
                bench_approvals(base, folder / "c", count, options.poll, 16, label="tuned")
                bench_approvals(
                    base, folder / "c-default", count // 3, AS_SHIPPED, 4, label="as shipped"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
