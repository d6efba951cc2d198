"""What a verification of the audit log found, and how far its result can be trusted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tether.audit._damage import Problem
from tether.audit._witness import WitnessKind

Assurance = Literal["local", "exported", "witnessed"]
"""How far a verification's result can be trusted against someone who can write the
database: ``local`` (the log's own signatures), ``exported`` (also an operator's copy
of checkpoints: a file or a file witness), ``witnessed`` (also independent witnesses'
cosignatures)."""


@dataclass(frozen=True, kw_only=True)
class WitnessCheck:
    """What one witness said about the log."""

    name: str
    kind: WitnessKind
    reachable: bool
    checkpoints: int = 0
    """How many of the log's checkpoints it holds (with valid signatures)."""
    latest_number: int | None = None
    """The last checkpoint it holds."""
    latest_seq: int | None = None
    """The event that checkpoint vouches for."""
    behind: int = 0
    """Checkpoints in the database it does not hold yet (the gap)."""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "reachable": self.reachable,
            "checkpoints": self.checkpoints,
            "latest_number": self.latest_number,
            "latest_seq": self.latest_seq,
            "behind": self.behind,
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """What verification found. ``intact`` only if nothing at all was wrong."""

    log_id: str
    """The log's id."""
    events: int
    """How many events were checked."""
    first_seq: int | None
    """The first event in the log (1 unless older events were pruned)."""
    last_seq: int | None
    """The last event in the log."""
    checkpoints: int
    """How many checkpoints have a valid signature (including an external one)."""
    signed_through: int | None
    """The last event a valid checkpoint vouches for; later events are unsigned so far."""
    problems: tuple[Problem, ...] = field(default=())
    """Everything wrong, first bad sequence number first."""
    assurance: Assurance = "local"
    """What the result rests on; see :data:`Assurance`."""
    witnesses: tuple[WitnessCheck, ...] = ()
    """What each witness said."""

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def witnessed_by(self) -> int:
        """How many independent witnesses cosigned checkpoints of this log."""
        return sum(1 for w in self.witnesses if w.kind == "server" and w.checkpoints)

    def to_dict(self) -> dict[str, Any]:
        first = self.first_problem
        return {
            "intact": self.intact,
            "log_id": self.log_id,
            "events": self.events,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checkpoints": self.checkpoints,
            "signed_through": self.signed_through,
            "assurance": self.assurance,
            "witnessed_by": self.witnessed_by,
            "witnesses": [w.to_dict() for w in self.witnesses],
            "first_bad_seq": first.seq if first else None,
            "damage": first.kind if first else None,
            "problems": [problem.to_dict() for problem in self.problems],
        }
