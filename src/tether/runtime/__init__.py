"""Durable runs: agents run as DBOS workflows, every tool call through the gate."""

from tether.runtime._answers import (
    ANSWER_VERSION,
    Answer,
    AwaitingApproval,
    Executed,
    Failed,
    RefusalKind,
    Refused,
)
from tether.runtime._dbos import (
    DEFAULT_APPLICATION_NAME,
    DEFAULT_POLL_SECONDS,
    DURABLE_VERSION,
    QUEUE,
    WORKFLOW,
)
from tether.runtime._handle import RunHandle
from tether.runtime._runtime import Runtime
from tether.runtime._store import (
    FINISHED,
    RUN_STATUSES,
    EffectRecord,
    RunNotFound,
    RunRecord,
    RunStatus,
    RunStore,
)
from tether.runtime._sweep import SweepReport
from tether.runtime._toolset import GateToolset, RunDeps, StepModel, run_secrets
from tether.runtime._workers import Worker, dead_workers, heartbeat, other_live_worker

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
