"""What the gate tells its recorder, one event per step that matters."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tether.calls import ProposedCall
from tether.gate._decision import Decision
from tether.gate._output import CheckedOutput
from tether.gate._readback import Observed

GateEventType = Literal["call.proposed", "call.decided", "call.executed", "call.failed"]


@dataclass(frozen=True, kw_only=True)
class GateEvent:
    type: GateEventType
    call: ProposedCall
    at: _dt.datetime
    """When the step happened (UTC)."""
    args: dict[str, Any]
    """The call's arguments, already redacted by the gate (secrets and the policy's fields)."""
    decision: Decision | None = None
    """Set from ``call.decided`` on."""
    output: CheckedOutput | None = None
    """The checked result, on ``call.executed``."""
    error: str | None = None
    """What went wrong, on ``call.failed`` (already redacted)."""
    duration_seconds: float | None = None
    """How long the tool ran, on ``call.executed`` and ``call.failed``."""
    observed: Observed | None = None
    """On ``call.executed`` of a tool with a read-back: what the system shows happened."""


class Recorder(Protocol):
    """Receives every gate event. The audit trail is one; tests may bring their own."""

    def record(self, event: GateEvent) -> None: ...


class BatchRecorder(Recorder, Protocol):
    """A recorder that can store several events at once (all or none), in order.

    The gate hands it a call's ``call.proposed`` and ``call.decided`` together: one
    write instead of two on the hot path.
    """

    def record_many(self, events: Sequence[GateEvent]) -> None: ...


def record_all(recorder: Recorder, events: Sequence[GateEvent]) -> None:
    """Give ``events`` to ``recorder``: at once when it can take a batch, else one by one."""
    many = getattr(recorder, "record_many", None)
    if many is not None:
        many(events)
        return
    for event in events:
        recorder.record(event)
