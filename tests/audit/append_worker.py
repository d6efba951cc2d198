"""Run in its own process by test_concurrency: wait for the start signal (a file), then
append N events one by one and print how many."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tether.audit import AuditEvent, AuditLog


def main(url: str, keys: str, count: int, worker: str, go: Path) -> None:
    with AuditLog(url, keys=keys, checkpoint_every=25) as log:
        _ = log.engine  # connect before the start signal
        print("ready", flush=True)
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        for n in range(count):
            log.append(
                AuditEvent(type="call.proposed", run_id=worker, call_id=str(n), agent=worker)
            )
            time.sleep(0.001)  # like a real agent between steps: lets the other writer in
    print(count)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]))
