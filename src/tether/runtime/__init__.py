"""Durable runs: agents run as DBOS workflows, every tool call through the gate.

Names are imported when first used: a runtime that only reads and decides loads
neither DBOS nor Pydantic AI until it runs a segment or queues one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.runtime._answers import (
        ANSWER_VERSION,
        Answer,
        AwaitingApproval,
        Executed,
        Failed,
        RefusalKind,
        Refused,
    )
    from tether.runtime._handle import RunHandle
    from tether.runtime._protocol import (
        DEFAULT_APPLICATION_NAME,
        DEFAULT_POLL_SECONDS,
        DURABLE_VERSION,
        QUEUE,
        WORKFLOW,
    )
    from tether.runtime._records import (
        FINISHED,
        RUN_STATUSES,
        EffectRecord,
        RunNotFound,
        RunRecord,
        RunStatus,
    )
    from tether.runtime._runtime import Runtime
    from tether.runtime._store import RunStore
    from tether.runtime._sweep import SweepReport
    from tether.runtime._toolset import GateToolset, RunDeps, StepModel, run_secrets
    from tether.runtime._workers import Worker, dead_workers, heartbeat, other_live_worker

_WHERE: dict[str, str] = {
    "ANSWER_VERSION": "tether.runtime._answers",
    "Answer": "tether.runtime._answers",
    "AwaitingApproval": "tether.runtime._answers",
    "DEFAULT_APPLICATION_NAME": "tether.runtime._protocol",
    "DEFAULT_POLL_SECONDS": "tether.runtime._protocol",
    "DURABLE_VERSION": "tether.runtime._protocol",
    "EffectRecord": "tether.runtime._records",
    "Executed": "tether.runtime._answers",
    "FINISHED": "tether.runtime._records",
    "Failed": "tether.runtime._answers",
    "GateToolset": "tether.runtime._toolset",
    "QUEUE": "tether.runtime._protocol",
    "RUN_STATUSES": "tether.runtime._records",
    "RefusalKind": "tether.runtime._answers",
    "Refused": "tether.runtime._answers",
    "RunDeps": "tether.runtime._toolset",
    "RunHandle": "tether.runtime._handle",
    "RunNotFound": "tether.runtime._records",
    "RunRecord": "tether.runtime._records",
    "RunStatus": "tether.runtime._records",
    "RunStore": "tether.runtime._store",
    "Runtime": "tether.runtime._runtime",
    "StepModel": "tether.runtime._toolset",
    "SweepReport": "tether.runtime._sweep",
    "WORKFLOW": "tether.runtime._protocol",
    "Worker": "tether.runtime._workers",
    "dead_workers": "tether.runtime._workers",
    "heartbeat": "tether.runtime._workers",
    "other_live_worker": "tether.runtime._workers",
    "run_secrets": "tether.runtime._toolset",
}
"""Where each public name lives: imported when first used."""

__all__ = [
    "ANSWER_VERSION",
    "DEFAULT_APPLICATION_NAME",
    "DEFAULT_POLL_SECONDS",
    "DURABLE_VERSION",
    "FINISHED",
    "QUEUE",
    "RUN_STATUSES",
    "WORKFLOW",
    "Answer",
    "AwaitingApproval",
    "EffectRecord",
    "Executed",
    "Failed",
    "GateToolset",
    "RefusalKind",
    "Refused",
    "RunDeps",
    "RunHandle",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "Runtime",
    "StepModel",
    "SweepReport",
    "Worker",
    "dead_workers",
    "heartbeat",
    "other_live_worker",
    "run_secrets",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
