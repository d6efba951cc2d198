"""Canonical JSON and the hash chain's arithmetic.

An event's stored record is the canonical JSON (sorted keys, no spaces, ASCII with
``\\u`` escapes) of ``{"body": <event>, "prev": <hash of the previous record>, "seq":
<n>}``, and its hash is the SHA-256 of those bytes, in lowercase hex. Because the keys
sort as ``body``, ``prev``, ``seq``, a verifier can check the link and the position with
one ``endswith`` on the text, without parsing it.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64
"""The ``prev`` of the first event of a log."""

# ASCII only: any text (even a lone surrogate) stores and hashes the same everywhere.
_encoder = json.JSONEncoder(
    ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text. Non-JSON values become strings first."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError):
        return _encoder.encode(jsonable(value))


def jsonable(value: Any) -> Any:
    """Plain JSON data: dates as ISO text, decimals and odd numbers as text, sets as lists."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(item) for item in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, _dt.datetime):
        return format_time(value) if value.tzinfo else value.isoformat()
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"))
    return str(value)


def format_time(at: _dt.datetime) -> str:
    """``2026-11-25T12:00:00.000000Z``: UTC, microseconds, fixed width, sorts as text."""
    if at.tzinfo is None:
        raise ValueError(f"audit times must be timezone-aware, got {at!r}")
    return at.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> _dt.datetime:
    return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.UTC)


def make_record(body_json: str, prev: str, seq: int) -> str:
    """The canonical JSON of ``{"body": body, "prev": prev, "seq": seq}``."""
    return f'{{"body":{body_json},"prev":"{prev}","seq":{seq}}}'


def record_tail(prev: str, seq: int) -> str:
    """How the record of event ``seq`` linked to ``prev`` must end."""
    return f',"prev":"{prev}","seq":{seq}}}'


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
