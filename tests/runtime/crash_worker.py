"""A worker process for the crash and worker tests, like ``tether worker``:

    python -m tests.runtime.crash_worker --database URL --keys DIR --executor-id ID

It launches a runtime on the crash policy (tests/runtime/crash_policy.yaml), prints
``ready`` once it executes runs, then loops: heartbeat and take over dead peers'
segments (with ``--stale-after``; printed), and every ``--sweep-every`` s a sweep.
SIGTERM stops it cleanly; the tests' tools kill it with SIGKILL at their kill points.
The tools read ``TETHER_CRASH_DIR`` and ``TETHER_CRASH_SMTP`` from the environment;
``TETHER_CRASH_WORKER`` is set here.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POLICY = HERE / "crash_policy.yaml"
AGENT = "crasher"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--executor-id", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--stale-after", type=float, default=0.0)
    parser.add_argument("--beat-every", type=float, default=0.25)
    parser.add_argument("--sweep-every", type=float, default=2.0)
    options = parser.parse_args(argv)
    os.environ["TETHER_CRASH_WORKER"] = options.executor_id

    from tether.agents import Agent
    from tether.policy import load_policy
    from tether.runtime import Runtime
    from tether.runtime._workers import heartbeat, recover_dead_workers

    _arm_record_kills()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    policy = load_policy(POLICY)
    agent = Agent(name=AGENT, policy=policy, base_dir=HERE)
    with Runtime(
        policy=policy,
        agents=[agent],
        database=options.database,
        keys=options.keys,
        executor_id=options.executor_id,
        stale_after_seconds=options.stale_after or 30.0,
    ) as rt:
        rt.launch(concurrency=options.concurrency)  # announces itself (a heartbeat)
        print(f"ready {options.executor_id} {os.getpid()}", flush=True)
        since_sweep = 0.0
        while not stopping.wait(options.beat_every):
            heartbeat(rt)
            if options.stale_after > 0:
                recovered = recover_dead_workers(rt, options.stale_after)
                if recovered:
                    print(f"recovered {' '.join(recovered)}", flush=True)
            since_sweep += options.beat_every
            if since_sweep >= options.sweep_every:
                since_sweep = 0.0
                rt.sweep()
    print("stopped", flush=True)
    return 0


def _arm_record_kills() -> None:
    """A kill point inside the runtime: right after the transaction that records a
    tool's execution (``kill-after-record-TOOL`` in the crash folder) commits. Whatever
    the runtime writes after it in a transaction of its own is lost."""
    from tests.runtime.crash_tools import kill_point
    from tether.audit import AuditLog

    original = AuditLog.record_many

    def record_many(self: AuditLog, events: Any, **kwargs: Any) -> Any:
        result = original(self, events, **kwargs)
        for event in events:
            if event.type == "call.executed":
                kill_point("after-record", event.call.tool)
        return result

    AuditLog.record_many = record_many  # type: ignore[method-assign]


if __name__ == "__main__":
    sys.exit(main())
