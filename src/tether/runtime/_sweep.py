"""A worker's periodic duties: what no single request moves on by itself.

Every ``sweep_seconds`` a worker beats its heartbeat, takes over dead workers'
segments, expires and escalates approvals that are due, resumes runs whose requests
were all decided (by a process that could not queue them) and queues again runs that
wait queued (a segment lost before it reached the queue).

A segment queued for workers of another durable protocol (by a newer or older release
that changed it) is not this worker's to run: the sweep counts them and logs which
workers they wait for, once per change, so they are never stranded in silence.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from tether.approvals import Approvals
from tether.runtime._dbos import Durability, segment_id
from tether.runtime._resume import Resumer
from tether.runtime._store import RunStore
from tether.runtime._workers import Worker, heartbeat, recover_dead_workers


@dataclass(frozen=True, kw_only=True)
class SweepReport:
    """What one sweep did."""

    recovered_workers: int
    expired: int
    escalated: int
    resumed: int
    queued: int
    elsewhere: dict[str, int] = field(default_factory=dict)
    """Queued segments that wait for workers of another application version, by it."""

    def as_dict(self) -> dict[str, int]:
        return {
            "recovered_workers": self.recovered_workers,
            "expired": self.expired,
            "escalated": self.escalated,
            "resumed": self.resumed,
            "queued": self.queued,
            "elsewhere": sum(self.elsewhere.values()),
        }


logger = logging.getLogger("tether.runtime")


def sweep(
    *,
    worker: Worker,
    durability: Durability,
    store: RunStore,
    approvals: Approvals,
    resumer: Resumer,
    stale_after_seconds: float,
) -> SweepReport:
    """One sweep (see the module's docstring)."""
    recovered: list[str] = []
    if durability.launched:
        heartbeat(worker)
        recovered = recover_dead_workers(worker, stale_after_seconds)
    expired = approvals.expire_due()
    escalated = approvals.escalate_due()
    resumed = sum(resumer.resume_if_ready(run_id) for run_id in resumer.decided_waiting_runs())
    queued = store.queued()
    for run_id, segment, state_version in queued:
        durability.enqueue(run_id, segment, state_version=state_version)
    foreign = durability.foreign_segments([segment_id(run, seg) for run, seg, _ in queued])
    elsewhere = dict(Counter(foreign.values()))
    if elsewhere and elsewhere != durability.reported_elsewhere:
        waiting = ", ".join(f"{n} for {version}" for version, n in sorted(elsewhere.items()))
        logger.warning(
            "queued segments wait for workers of another durable protocol (%s); this "
            "worker is %s: start a worker of that version to run them "
            "(docs/operations.md, Upgrades and rollbacks)",
            waiting,
            durability.application_version,
        )
    durability.reported_elsewhere = elsewhere
    return SweepReport(
        recovered_workers=len(recovered),
        expired=len(expired),
        escalated=len(escalated),
        resumed=resumed,
        queued=len(queued),
        elsewhere=elsewhere,
    )
