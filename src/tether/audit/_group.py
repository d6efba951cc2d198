"""Group commit: appends from many threads share one transaction.

Every append to the chain takes one lock, so a transaction per append caps the
whole system at one commit's latency per event. Instead, a caller that finds no
write in progress becomes the leader: it writes everything queued so far (its own
events first among them) in one transaction, hands the results out and steps down;
a caller still waiting then leads the next round. No thread of its own; nothing
to close.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

MAX_BATCHES = 256
"""At most this many callers' appends in one transaction."""


@dataclass(eq=False)
class _Entry(Generic[In, Out]):
    batch: In
    done: bool = False
    result: Out | None = None
    error: BaseException | None = field(default=None)


class GroupCommit(Generic[In, Out]):
    def __init__(self, write: Callable[[list[In]], list[Out]]) -> None:
        self._write = write
        """Writes the batches it is given in one transaction; one result per batch, in order."""
        self._turn = threading.Condition()
        self._queue: list[_Entry[In, Out]] = []
        self._leading = False

    def submit(self, batch: In) -> Out:
        """Write ``batch`` (with whatever else is waiting); its result, or its error."""
        entry: _Entry[In, Out] = _Entry(batch)
        with self._turn:
            self._queue.append(entry)
        while True:
            with self._turn:
                while self._leading and not entry.done:
                    self._turn.wait()
                if entry.done:
                    break
                self._leading = True
                taken = self._queue[:MAX_BATCHES]
                del self._queue[:MAX_BATCHES]
            self._lead(taken)
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]  # set with done

    def _lead(self, taken: list[_Entry[In, Out]]) -> None:
        try:
            results = self._write([entry.batch for entry in taken])
        except BaseException as exc:  # every caller in the failed transaction learns why
            for entry in taken:
                entry.error = exc
        else:
            for entry, result in zip(taken, results, strict=True):
                entry.result = result
        with self._turn:
            for entry in taken:
                entry.done = True
            self._leading = False
            self._turn.notify_all()
