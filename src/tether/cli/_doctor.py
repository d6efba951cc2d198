"""``tether doctor``: is tether's state private to its owner?

The configuration (with its secrets), the SQLite database and its journals, the audit
and session keys, the local Tryton's databases, the outbox and mailboxes, the CLI's
login: each must be readable by its owner only. Exit 1 naming each that is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer

from tether.cli._common import ConfigOption, err, out, styled
from tether.cli._login import credentials_path
from tether.config import find_config, read_config_file
from tether.errors import TetherError
from tether.private import exposed

_CONNECTOR_PATHS = {
    "outbox": "the outbox (messages sent)",
    "sent_maildir": "the sent-mail log",
    "inbox_maildir": "the inbox",
    "state": "the local Tryton (its databases)",
}


def state_paths(config: Path | None) -> list[tuple[Path, str]]:
    """Where this configuration keeps its state, and what each is."""
    found = find_config(config)
    spec = read_config_file(found)
    base = found.resolve().parent
    paths: list[tuple[Path, str]] = [(found, "tether.yaml, with its secrets")]
    database = spec.database or f"sqlite:///{base / 'tether.db'}"
    url = sa.make_url(database)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        paths += [
            (db.with_name(db.name + suffix), "the tether database")
            for suffix in ("", "-wal", "-shm")
        ]
    keys = Path(spec.keys) if spec.keys else Path(".tether/keys")
    paths += [
        (keys, "the audit signing keys"),
        (keys.parent / "web-session.key", "the console's session key"),
    ]
    for connector in spec.connectors:
        paths += list(_connector_paths(connector.settings, base))
    paths.append((credentials_path(), "your `tether login` token"))
    return paths


def _connector_paths(settings: dict[str, Any], base: Path) -> list[tuple[Path, str]]:
    found = []
    for key, what in _CONNECTOR_PATHS.items():
        value = settings.get(key)
        if key == "state" and isinstance(settings.get("local"), dict):
            value = settings["local"].get("state")
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            found.append((path if path.is_absolute() else base / path, what))
    return found


def doctor(config: ConfigOption = None) -> None:
    """Check that tether's state files are readable by their owner only (0600, 0700)."""
    try:
        paths = state_paths(config)
    except TetherError as exc:
        err.print(styled("red", "error", str(exc)))
        raise typer.Exit(2) from None
    problems = exposed(paths)
    present = [path for path, _ in paths if path.exists()]
    if not problems:
        out.print(f"ok: {len(present)} state paths checked, all private to their owner")
        return
    for problem in problems:
        err.print(styled("red", "not private", str(problem)))
    err.print(f"{len(problems)} of tether's state files can be read by others")
    raise typer.Exit(1)
