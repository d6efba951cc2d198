"""What verification found, and how a broken link is told apart: edited, deleted, inserted…

Each stored record repeats its own position and its predecessor's hash, so when the
chain breaks the rows themselves say what happened to them: a row that claims a
later position than it holds means rows before it were removed (or it was moved); an
earlier one means rows were inserted before it; a row whose hash no longer matches
its record was edited. A record that fails its own hash says nothing about where it
belongs: it is the edited one, wherever it claims to be.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tether.audit._canonical import sha256_hex

Damage = Literal[
    "edited",
    "deleted",
    "inserted",
    "reordered",
    "truncated",
    "bad_signature",
    "checkpoint_missing",
]
"""The kinds of damage verification names."""


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with the log, located at the first bad sequence number."""

    seq: int
    """The first event (or the checkpoint's event) that is wrong."""
    kind: Damage
    """What happened to it."""
    message: str
    """What was found, for a person."""

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "message": self.message}


Row = tuple[Any, ...]
"""``(seq, record, hash)`` as read from the event table."""


def _claims(record: Any) -> tuple[int, str] | None:
    """The position and predecessor a record states, or None if it cannot be read."""
    try:
        data = json.loads(record)
        seq, prev = data["seq"], data["prev"]
    except (TypeError, ValueError, KeyError):
        return None
    if not isinstance(seq, int) or not isinstance(prev, str):
        return None
    return seq, prev


def _intact(row: Row) -> bool:
    record, stored = row[1], row[2]
    return isinstance(record, str) and sha256_hex(record) == stored


Locate = Callable[[int], "int | None"]
"""Where (at which stored position) an intact record claiming event n is, if anywhere
else than n."""


def classify(
    row: Row,
    *,
    expected: int,
    prev: str,
    following: Row | None,
    locate: Locate,
    at_start: bool = False,
) -> Problem:
    """Why ``row`` does not continue the chain that ended with hash ``prev``.

    ``expected`` is the position the row should hold; ``following`` is the row after
    it, used to tell an insertion from an edit; ``locate`` finds an event stored out of
    place anywhere in the log, to tell a reordering (however far) from a deletion;
    ``at_start`` says ``prev`` is the log's anchor (genesis or a pruning checkpoint).
    """
    seq = int(row[0])
    if seq > expected:
        return _gap(expected, seq, locate)
    pushed = following is not None and _intact(following) and _position(following) == seq
    if not _intact(row):
        if pushed:
            return _inserted_here(seq)
        return Problem(
            seq=seq, kind="edited", message=f"event {seq} was changed: its hash does not match"
        )
    claims = _claims(row[1])
    if claims is None or claims[0] == seq:
        return _in_place(row, seq, claims, prev=prev, pushed=pushed, at_start=at_start)
    claimed = claims[0]
    if claimed < seq:
        return Problem(
            seq=claimed,
            kind="inserted",
            message=f"event {claimed} was moved to {seq}: {seq - claimed} event(s) were "
            f"inserted at {claimed}",
        )
    elsewhere = locate(seq)
    if elsewhere is not None:
        return Problem(
            seq=seq,
            kind="reordered",
            message=f"event {claimed} is stored at {seq}, and event {seq} at {elsewhere}",
        )
    return Problem(
        seq=seq,
        kind="deleted",
        message=f"event {seq} is missing: the events after it were renumbered "
        f"(event {claimed} is stored at {seq})",
    )


def _gap(expected: int, seq: int, locate: Locate) -> Problem:
    elsewhere = locate(expected)
    if elsewhere is not None:
        return Problem(
            seq=expected,
            kind="reordered",
            message=f"event {expected} is not in its place: it is stored at {elsewhere}",
        )
    missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
    return Problem(seq=expected, kind="deleted", message=f"event {missing} is missing")


def _position(row: Row) -> int | None:
    claims = _claims(row[1])
    return None if claims is None else claims[0]


def _inserted_here(seq: int) -> Problem:
    return Problem(
        seq=seq,
        kind="inserted",
        message=f"event {seq} is not part of the chain, and the events after it were moved up",
    )


def _in_place(
    row: Row, seq: int, claims: tuple[int, str] | None, *, prev: str, pushed: bool, at_start: bool
) -> Problem:
    if pushed:
        return _inserted_here(seq)
    if claims is None:
        return Problem(
            seq=seq, kind="edited", message=f"event {seq} was replaced by a record of no chain"
        )
    if claims[1] != prev:
        if at_start:
            return Problem(
                seq=seq, kind="edited", message=f"event {seq} does not link to the log's start"
            )
        return Problem(
            seq=seq - 1,
            kind="edited",
            message=f"event {seq - 1} was changed and re-hashed: event {seq} vouches for "
            "a different hash",
        )
    return Problem(seq=seq, kind="edited", message=f"event {seq} is not in canonical form any more")
