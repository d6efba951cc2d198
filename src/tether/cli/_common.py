"""What the commands share: the configuration, the runtime, errors and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from tether.config import load_config, read_config_file
from tether.errors import TetherError
from tether.identity import Actor

if TYPE_CHECKING:
    from tether.runtime import Runtime
    from tether.service import Service

# Printed text comes from policies, models and users: no markup, no emoji codes in it.
out = Console(emoji=False, highlight=False, markup=False)
err = Console(stderr=True, emoji=False, highlight=False, markup=False)


def styled(style: str, label: str, text: str) -> Text:
    """``label`` in ``style``, then ``text`` exactly as it is."""
    return Text.assemble((label, style), " ", text)


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="tether.yaml to use (default: TETHER_CONFIG, ./tether.yaml)."
    ),
]


@contextmanager
def runtime(
    config: Path | None, *, execute: bool = False, when_needed: bool = False
) -> Iterator[Runtime]:
    """The runtime of the configuration; with ``execute`` and an embedded (SQLite)
    setup, this process also runs the segments it queues, until the command ends
    (``when_needed``: launched only once it has one to run, see ``Runtime.launch``)."""
    try:
        loaded = load_config(config)
        rt = loaded.runtime()
    except TetherError as exc:
        err.print(styled("red", "error", str(exc)))
        raise typer.Exit(2) from None
    try:
        if execute and loaded.inline:
            rt.launch(concurrency=loaded.spec.worker.concurrency, when_needed=when_needed)
        yield rt
    except TetherError as exc:
        err.print(styled("red", "refused", str(exc)))
        raise typer.Exit(1) from None
    finally:
        rt.close()


@contextmanager
def service(
    config: Path | None, *, execute: bool = False, when_needed: bool = False
) -> Iterator[Service]:
    """The operator service of the configuration's runtime (see :func:`runtime`)."""
    from tether.service import Service

    with runtime(config, execute=execute, when_needed=when_needed) as rt:
        yield Service(rt, accounts=frozenset(read_config_file(config).web.users))


AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Who decides, without a login (only where tether.yaml says operators: local); "
        "after `tether login`, you.",
    ),
]


def cli_actor(name: str) -> Actor:
    """A decision made from the command line, acting on the database directly."""
    return Actor(account=name, surface="cli", method="local")


def json_object(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at column {exc.colno}"
        raise typer.BadParameter(message, param_hint=option) from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter("must be a JSON object", param_hint=option)
    return parsed


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))
