"""What tests and evaluations need from tether, as a public API.

- scripted models that propose exactly the calls a test wants
  (:func:`scripted_model`, :class:`Script`);
- a fresh start between trials that share a runtime (:func:`reset_trial_state`);
- audit signing keys made without a warning (:func:`quiet_keys`): a test's keys are
  throwaway, and "made a new audit signing key" is only noise there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from tether.agents import Script, ScriptedCall, ScriptedTurn, load_script, scripted_model
from tether.runtime import Runtime

__all__ = [
    "Script",
    "ScriptedCall",
    "ScriptedTurn",
    "load_script",
    "quiet_keys",
    "reset_trial_state",
    "scripted_model",
]


def reset_trial_state(runtime: Runtime) -> None:
    """Empty what carries over from one trial to the next in a runtime's database:
    the usage of every limit and budget, and every stop switch."""
    runtime.gate.ledger.clear()
    runtime.store.clear_stops()


@contextmanager
def quiet_keys() -> Iterator[None]:
    """Make audit signing keys without logging each one (test and trial keys)."""
    log = logging.getLogger("tether.audit")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
