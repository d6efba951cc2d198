"""Evaluation benchmark: 1,000 scripted scenarios through the real gate and runtime.

    .venv/bin/python bench/evals.py [--scenarios 1000] [--workers 2] [--k 1]

The shipped golden set (examples/support-desk/evals) is repeated, under new ids, up
to --scenarios scenarios, and run by --workers worker processes, each trial on a
fresh desk, exactly as ``tether eval`` runs them (gate, approvals answered by the
scenarios' scripted approvers, audit, end-state checks). Prints scenarios per second
and the total time, from the start of the run (workers starting included) to the
last result. Target: 1,000 scenarios on 2 cores in <= 60 s. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

from tether.evals import Scenario, Suite, compute_metrics, load_suite, run_suite

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "examples" / "support-desk" / "evals"


def scenarios(count: int) -> list[Scenario]:
    golden = load_suite(GOLDEN).scenarios
    return [
        dataclasses.replace(golden[n % len(golden)], id=f"{golden[n % len(golden)].id}-{n}")
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--k", type=int, default=1)
    options = parser.parse_args()
    loaded = time.perf_counter()
    suite = Suite(name="bench", scenarios=scenarios(options.scenarios))
    started = time.perf_counter()
    done = 0

    def progress(_scenario: Scenario, _trial: object) -> None:
        nonlocal done
        done += 1
        if done % 100 == 0:
            print(f"  {done} trials in {time.perf_counter() - started:.1f} s", flush=True)

    result = run_suite(suite, k=options.k, workers=options.workers, on_trial=progress)
    total = time.perf_counter() - started
    metrics = compute_metrics(result.scenarios, result.k)
    failed = [s.id for s in result.scenarios if s.status != "passed"]
    print(
        f"{len(suite.scenarios)} scenarios x k={options.k} ({result.trials} trials), "
        f"{options.workers} workers, {os.cpu_count()} CPUs"
    )
    print(f"loading the scenarios: {started - loaded:.2f} s")
    print(f"total time: {total:.1f} s (target <= 60 s for 1,000 on 2 cores)")
    print(f"scenarios per second: {len(suite.scenarios) / total:.1f}")
    print(f"trials per second: {result.trials / total:.1f}")
    print(
        f"latency per trial: mean {metrics['latency_ms_mean']:.0f} ms, "
        f"p95 {metrics['latency_ms_p95']:.0f} ms"
    )
    print(f"pass rate {metrics['pass_rate']:.3f}; not passed: {len(failed)} {failed[:5]}")


if __name__ == "__main__":
    main()
