"""Durable runs: agents run as DBOS workflows, every tool call through the gate."""

from tether.runtime._runtime import QUEUE, Runtime, current_runtime
from tether.runtime._store import (
    FINISHED,
    RUN_STATUSES,
    EffectRecord,
    RunNotFound,
    RunRecord,
    RunStatus,
    RunStore,
)
from tether.runtime._toolset import GateToolset, RunDeps, StepModel

__all__ = [
    "FINISHED",
    "QUEUE",
    "RUN_STATUSES",
    "EffectRecord",
    "GateToolset",
    "RunDeps",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "Runtime",
    "StepModel",
    "current_runtime",
]
