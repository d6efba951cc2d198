"""A client's session is a tether run, bound to the token's subject.

Under the stateless protocol revision there is no MCP session to hang state on, and
under the older one a client may open a new session whenever it likes (a lost
stream, a restart). Neither may shed the taint its earlier calls earned, nor turn a
retried call into a second one. So the run is the caller's: one per issuer, subject,
client and agent, the same across MCP sessions, connections and gateway processes,
until an operator ends it (cancelling it); the next call then opens a fresh one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from tether.gateway._identity import Caller
from tether.runtime import FINISHED, RunNotFound
from tether.service import Service

_FRESH_SECONDS = 2.0
"""How long a run known to be open is taken as open without reading it again."""
_MAX_GENERATIONS = 10_000


class Sessions:
    """Which run a caller's calls belong to."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._open: dict[str, tuple[str, float]] = {}

    async def run_for(self, caller: Caller) -> str:
        known = self._open.get(caller.key)
        if known is not None and time.monotonic() - known[1] < _FRESH_SECONDS:
            return known[0]
        run_id = await asyncio.to_thread(self._open_run, caller, known[0] if known else None)
        self._open[caller.key] = (run_id, time.monotonic())
        return run_id

    def owns(self, caller: Caller, run_id: str) -> bool:
        """Whether ``run_id`` is one of ``caller``'s sessions (any generation)."""
        return run_id.startswith(_base(caller) + "_")

    def _open_run(self, caller: Caller, last: str | None) -> str:
        base = _base(caller)
        start = int(last.rsplit("_", 1)[1]) if last and last.startswith(base) else 1
        for generation in range(start, _MAX_GENERATIONS):
            run_id = f"{base}_{generation}"
            try:
                record = self.service.run(run_id)
            except RunNotFound:
                record = self.service.open_session(
                    run_id,
                    agent=caller.agent,
                    principal=caller.principal,
                    task=f"MCP gateway session of {caller.subject} ({caller.client_id})",
                    details={"surface": "gateway", "caller": caller.record()},
                )
            if record.status not in FINISHED:
                return run_id
        raise RuntimeError("too many ended gateway sessions for one caller")


def _base(caller: Caller) -> str:
    return "gw_" + hashlib.sha256(caller.key.encode()).hexdigest()[:20]
