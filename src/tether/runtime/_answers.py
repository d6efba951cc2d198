"""What a call step answers: the one value that crosses DBOS's step boundary.

A step's return value is checkpointed by DBOS (pickled) and handed back unchanged when
the step is replayed after a crash, possibly by a newer release. So the answers are
small frozen dataclasses of plain fields with a ``version``, and :func:`parse` also
reads what older releases recorded (dicts with a ``kind``).

The states have the names the gate's outcomes have: executed, refused,
awaiting_approval, failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ANSWER_VERSION = 1
"""The version of the answers this release writes."""

RefusalKind = Literal["policy", "stopped", "approval", "repeated"]
"""Why a call was refused: the policy's decision, the stop switch, an approval that
could not be used, or the same refused call proposed again."""


@dataclass(frozen=True, kw_only=True)
class Executed:
    """The call ran; ``text`` is its checked output as the model sees it."""

    text: str
    kind: Literal["executed"] = "executed"
    version: int = ANSWER_VERSION


@dataclass(frozen=True, kw_only=True)
class Refused:
    """The call did not run; ``text`` tells the model why, safely."""

    text: str
    refusal: RefusalKind = "policy"
    kind: Literal["refused"] = "refused"
    version: int = ANSWER_VERSION


@dataclass(frozen=True, kw_only=True)
class AwaitingApproval:
    """The call waits for people: approval request ``request_id``."""

    request_id: str
    kind: Literal["awaiting_approval"] = "awaiting_approval"
    version: int = ANSWER_VERSION


@dataclass(frozen=True, kw_only=True)
class Failed:
    """The call was allowed but did not complete; ``text`` says what went wrong."""

    text: str
    kind: Literal["failed"] = "failed"
    version: int = ANSWER_VERSION


Answer = Executed | Refused | AwaitingApproval | Failed


def parse(value: Any) -> Answer:
    """An answer as recorded by any release: this one's dataclasses, or an older dict."""
    if isinstance(value, Executed | Refused | AwaitingApproval | Failed):
        return value
    if isinstance(value, dict):
        kind = value.get("kind")
        if kind == "executed":
            return Executed(text=str(value.get("text", "")))
        if kind == "refused":
            return Refused(text=str(value.get("text", "")))
        if kind == "needs_approval":
            return AwaitingApproval(request_id=str(value["request_id"]))
        if kind == "failed":
            return Failed(text=str(value.get("text", "")))
    raise ValueError(f"a recorded step answer tether cannot read: {value!r}")
