"""The outcome record: what the system shows a call did, read back from it by the
tool's :class:`~tether.tools.ReadBack`, beside what the tool answered.

A read-back runs after the tool answered (and, when the tool declares one, its
``before`` just before it ran). It never changes the call's outcome: the effect has
happened whatever the read-back finds. A read-back that fails or times out is
recorded as unread, with why; one that disagrees with the answer is recorded with
every field where they differ (``discrepancies``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic_core import to_jsonable_python

from tether.redaction import Redactor
from tether.tools import ReadBack

OutcomeStatus = Literal["confirmed", "discrepancy", "unread"]


@dataclass(frozen=True, kw_only=True)
class Discrepancy:
    """One field where the system disagrees with the tool's answer."""

    path: str
    """Where, as a dotted path (``invoice.state``, ``lines.0.quantity``)."""
    answer: Any
    """What the tool said (or its ``expect`` derived from the answer)."""
    system: Any
    """What the system shows (None: the read-back has no such field)."""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "answer": self.answer, "system": self.system}


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What a read-back found."""

    system: str
    """Where it read."""
    after: Any = None
    """The state the system shows after the effect (JSON data, redacted)."""
    before: Any = None
    """The state before the effect, when the tool reads one (JSON data, redacted)."""
    discrepancies: tuple[Discrepancy, ...] = ()
    """Fields where the system disagrees with the answer."""
    error: str | None = None
    """Why the system could not be read back (nothing is confirmed then)."""

    @property
    def status(self) -> OutcomeStatus:
        if self.error is not None:
            return "unread"
        return "discrepancy" if self.discrepancies else "confirmed"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "system": self.system}
        if self.before is not None:
            data["before"] = self.before
        if self.error is None:
            data["after"] = self.after
        else:
            data["error"] = self.error
        if self.discrepancies:
            data["discrepancies"] = [item.to_dict() for item in self.discrepancies]
        return data


def compare(expected: Any, observed: Any, *, strict: bool) -> tuple[Discrepancy, ...]:
    """Where ``observed`` differs from ``expected`` (both as JSON data).

    ``strict``: every field of ``expected`` must be in ``observed``; otherwise only the
    fields both have are compared (a read-back of a record and a tool's answer about it
    rarely have the same shape)."""
    found: list[Discrepancy] = []
    _compare(_plain(expected), _plain(observed), "", strict, found)
    return tuple(found)


def _compare(expected: Any, observed: Any, path: str, strict: bool, out: list[Discrepancy]) -> None:
    if isinstance(expected, dict) and isinstance(observed, dict):
        for key, value in expected.items():
            where = f"{path}.{key}" if path else str(key)
            if key in observed:
                _compare(value, observed[key], where, strict, out)
            elif strict:
                out.append(Discrepancy(path=where, answer=value, system=None))
        return
    if (
        isinstance(expected, list)
        and isinstance(observed, list)
        and len(expected) == len(observed)
        and any(isinstance(item, dict | list) for item in expected)
    ):
        for index, (one, other) in enumerate(zip(expected, observed, strict=True)):
            _compare(one, other, f"{path}.{index}" if path else str(index), strict, out)
        return
    if not strict and _shape(expected) != _shape(observed):
        return  # an answer and a read-back of different shapes say nothing of each other
    if not _same(expected, observed):
        out.append(Discrepancy(path=path or "(value)", answer=expected, system=observed))


def _shape(value: Any) -> str:
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else "value"


def _same(one: Any, other: Any) -> bool:
    if one == other:
        return True
    # "12.50" from one side, 12.5 from the other: the same amount.
    try:
        return float(one) == float(other)
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str)


async def read_before(
    spec: ReadBack, args: dict[str, Any], *, timeout_seconds: float
) -> tuple[Any, str | None]:
    """The state before the effect, or why it could not be read."""
    if spec.before is None:
        return None, None
    return await _call(spec.before, (args,), timeout_seconds)


async def read_after(
    spec: ReadBack,
    args: dict[str, Any],
    answer: Any,
    *,
    before: tuple[Any, str | None],
    redactor: Redactor,
    timeout_seconds: float,
) -> Observed:
    """Read the system back after the effect and compare it with the answer."""
    state, error = await _call(spec.after, (args, answer), timeout_seconds)
    earlier, before_error = before
    shown_before = None if before_error else _shown(earlier, redactor)
    if error is not None:
        return Observed(system=spec.system, before=shown_before, error=redactor.redact_text(error))
    try:
        differences = compare(answer, state, strict=False)
        if spec.expect is not None:
            strict = compare(spec.expect(args, answer), state, strict=True)
            seen = {item.path for item in strict}
            differences = strict + tuple(d for d in differences if d.path not in seen)
    except Exception as exc:  # an expect that fails: say so, keep what was read
        return Observed(
            system=spec.system,
            before=shown_before,
            error=f"comparing failed: {type(exc).__name__}: {exc}",
        )
    return Observed(
        system=spec.system,
        before=shown_before,
        after=_shown(state, redactor),
        discrepancies=tuple(
            Discrepancy(
                path=item.path,
                answer=_shown(item.answer, redactor),
                system=_shown(item.system, redactor),
            )
            for item in differences
        ),
    )


def _shown(value: Any, redactor: Redactor) -> Any:
    return redactor.redact(_plain(value)).value


async def _call(
    function: Callable[..., Any], args: tuple[Any, ...], timeout_seconds: float
) -> tuple[Any, str | None]:
    try:
        if inspect.iscoroutinefunction(function):
            value = await asyncio.wait_for(function(*args), timeout_seconds)
        else:
            value = await asyncio.wait_for(asyncio.to_thread(function, *args), timeout_seconds)
    except TimeoutError:
        return None, f"the read-back timed out after {timeout_seconds:g}s"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return value, None


def observed_from(data: Mapping[str, Any]) -> Observed:
    """An :class:`Observed` from its :meth:`Observed.to_dict` (for readers of the trail)."""
    return Observed(
        system=str(data.get("system", "")),
        after=data.get("after"),
        before=data.get("before"),
        error=data.get("error"),
        discrepancies=tuple(
            Discrepancy(path=str(d.get("path")), answer=d.get("answer"), system=d.get("system"))
            for d in data.get("discrepancies") or ()
        ),
    )
