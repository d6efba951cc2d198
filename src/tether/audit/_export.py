"""Export events as JSON Lines: one stored record per line, with its hash."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from tether.audit._canonical import canonical_json
from tether.audit._event import StoredEvent


def export_jsonl(events: Iterable[StoredEvent], out: TextIO) -> int:
    """Write each event as ``{"body", "hash", "prev", "seq"}`` on its own line.

    Each line is canonical JSON: drop ``hash``, serialise the rest canonically, and its
    SHA-256 is ``hash`` again, so an export can be checked without tether.
    """
    count = 0
    for stored in events:
        line = json.loads(stored.record)
        line["hash"] = stored.hash
        out.write(canonical_json(line))
        out.write("\n")
        count += 1
    return count
