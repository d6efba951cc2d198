"""``tether worker`` and ``tether stop``."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from tether.cli._common import AsOption, ConfigOption, err, out, runtime
from tether.cli._decide import decider
from tether.config import read_config_file
from tether.runtime import heartbeat, other_live_worker

if TYPE_CHECKING:
    from tether.runtime import Runtime


def worker(
    config: ConfigOption = None,
    executor_id: Annotated[
        str | None, typer.Option(help="A stable id for this worker (restart it under the same id).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Segments run at once.")] = None,
) -> None:
    """Run a worker: execute queued runs, expire and escalate approvals, recover runs."""
    settings = read_config_file(config).worker  # the policy and agents: loaded once, below
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with runtime(config) as rt:
        if executor_id:
            rt.executor_id = executor_id
        other = other_live_worker(rt, rt.stale_after_seconds)
        if other is not None:
            err.print(
                f"error: another worker runs as {rt.executor_id!r}: {other}. Give each "
                "worker its own id: --executor-id, worker.executor_id in tether.yaml, or "
                "DBOS__VMID.",
                markup=False,
            )
            raise typer.Exit(1)
        rt.launch(concurrency=concurrency or settings.concurrency)
        out.print(f"worker {rt.executor_id} running; Ctrl-C to stop", highlight=False)
        preparing = threading.Thread(target=rt.prepare_segments, name="tether-prepare")
        preparing.start()
        # The heartbeat beats on its own: a long sweep must not make this worker look dead.
        beating = threading.Thread(
            target=_beat, args=(rt, stopping, settings.sweep_seconds), daemon=True
        )
        beating.start()
        while not stopping.wait(settings.sweep_seconds):
            rt.sweep()
        beating.join(timeout=settings.sweep_seconds)
        preparing.join()


def _beat(rt: Runtime, stopping: threading.Event, every_seconds: float) -> None:
    while not stopping.wait(every_seconds):
        heartbeat(rt)


def stop(
    as_user: AsOption = None,
    agent: Annotated[str | None, typer.Option(help="The agent to stop.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Stop every agent.")] = False,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "stopped by an operator",
    lift: Annotated[bool, typer.Option("--lift", help="Lift the stop instead.")] = False,
    config: ConfigOption = None,
) -> None:
    """Halt an agent or all of them at once: pending approvals are cancelled, new calls refused."""
    if (agent is None) == (not every):
        raise typer.BadParameter("give --agent NAME or --all", param_hint="--agent/--all")
    with decider(config, as_user) as decide:
        if lift:
            count = decide.lift(agent=agent)["lifted"]
            out.print(
                f"lifted {count} stop(s) for {agent or 'all agents'} by {decide.user}",
                highlight=False,
            )
            return
        halted = decide.stop(agent=agent, reason=reason)["halted"]
    out.print(
        f"stopped {agent or 'all agents'}; {halted} run(s) halted by {decide.user}",
        highlight=False,
    )
