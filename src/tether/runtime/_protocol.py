"""The durable protocol's names and versions: what DBOS knows tether's segments by.

Kept apart from :mod:`._dbos` (which imports DBOS) so that a runtime that only reads
and decides (``tether approvals list``) knows them without loading DBOS.
"""

from __future__ import annotations

QUEUE = "tether-runs"
"""The queue segments wait on until a worker takes them."""
WORKFLOW = "tether.run_segment"
"""The workflow that runs one segment of a run."""
DURABLE_VERSION = 3
"""The version of the durable protocol: the steps of a segment and the run state they
read and write. Change it only with a change that older workers cannot replay.
2: a call is no DBOS step of its own (the effect ledger answers it on replay).
3: nor is a model request (its response is in the effect ledger with its first call)."""


def durable_application_version(version: int) -> str:
    """DBOS's application version for workers of durable protocol ``version``."""
    return f"tether-durable-{version}"


DEFAULT_APPLICATION_VERSION = durable_application_version(DURABLE_VERSION)
DEFAULT_APPLICATION_NAME = "tether"
DEFAULT_POLL_SECONDS = 0.1
"""How often a worker asks the queue for segments: a run queued (not started at once,
see :meth:`~._dbos.Durability.start`) waits up to this before it starts or resumes."""
