"""An effect preview as a person reads it: a record diff as ``field: before → after``.

Connectors that change records preview them as JSON
(``{"action", "model", "record_id", "changes": {field: {"before", "after"}}}``); any
other JSON is indented, and a text preview (an email as it will be sent) is kept as
it is.
"""

from __future__ import annotations

import json
from typing import Any

NOTHING = "(none)"
"""How a missing value (a field set for the first time, or cleared) is shown."""


def readable_preview(preview: str) -> str:
    """``preview`` as lines a person can read in a terminal or a page."""
    if not preview.lstrip().startswith(("{", "[")):
        return preview
    try:
        data = json.loads(preview)
    except ValueError:
        return preview
    if isinstance(data, dict) and isinstance(data.get("changes"), dict):
        return _diff(data)
    return json.dumps(data, indent=2, ensure_ascii=False)


def _diff(data: dict[str, Any]) -> str:
    head = " ".join(
        str(data[key]) for key in ("action", "model", "record_id") if data.get(key) is not None
    )
    lines = [head or "changes"]
    changes: dict[str, Any] = data["changes"]
    for field, change in changes.items():
        if isinstance(change, dict) and ("before" in change or "after" in change):
            lines.append(
                f"  {field}: {_value(change.get('before'))} → {_value(change.get('after'))}"
            )
        else:
            lines.append(f"  {field}: {_value(change)}")
    if not changes:
        lines.append("  (no field changes)")
    rest = {k: v for k, v in data.items() if k not in ("action", "model", "record_id", "changes")}
    lines.extend(f"{key}: {_value(value)}" for key, value in rest.items())
    return "\n".join(lines)


def _value(value: Any) -> str:
    if value is None or value == "":
        return NOTHING
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
