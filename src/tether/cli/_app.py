"""The ``tether`` command: each subcommand's module is imported only when it is used.

:data:`SUBCOMMANDS` names where each subcommand lives; :class:`LazyGroup` imports that
module when the command line names the subcommand (``tether audit verify`` loads the
audit commands, not the runtime, the console or the evaluations). ``tether --help``
and the CLI reference load them all.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_group


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand lives: a Typer app (a group) or a command function."""

    module: str
    attribute: str


SUBCOMMANDS: dict[str, Subcommand] = {
    "login": Subcommand("tether.cli._login", "login"),
    "logout": Subcommand("tether.cli._login", "logout"),
    "unlock": Subcommand("tether.cli._login", "unlock"),
    "doctor": Subcommand("tether.cli._doctor", "doctor"),
    "demo": Subcommand("tether.cli._demo", "demo"),
    "run": Subcommand("tether.cli._runs", "run"),
    "worker": Subcommand("tether.cli._worker", "worker"),
    "stop": Subcommand("tether.cli._worker", "stop"),
    "serve": Subcommand("tether.cli._serve", "serve"),
    "assess": Subcommand("tether.cli._assess", "assess"),
    "report": Subcommand("tether.cli._report", "report"),
    "eval": Subcommand("tether.cli._eval", "eval_"),
    "eval-diff": Subcommand("tether.cli._eval", "eval_diff"),
    "policy": Subcommand("tether.cli._policy", "app"),
    "audit": Subcommand("tether.cli._audit", "app"),
    "runs": Subcommand("tether.cli._runs", "app"),
    "approvals": Subcommand("tether.cli._approvals", "app"),
    "outbox": Subcommand("tether.cli._outbox", "app"),
    "tryton": Subcommand("tether.cli._tryton", "app"),
    "witness": Subcommand("tether.cli._witness", "app"),
    "evidence": Subcommand("tether.cli._evidence", "app"),
    "tokens": Subcommand("tether.cli._login", "app"),
    "gateway": Subcommand("tether.cli._gateway", "app"),
}
"""Every subcommand of ``tether``, in the order ``tether --help`` lists them."""


def _root() -> None:
    """Run AI agents that act on business systems, and keep them under control."""


def load(name: str) -> Any:
    """The command of subcommand ``name`` (as Typer builds it), its module imported now."""
    entry = SUBCOMMANDS[name]
    value = getattr(importlib.import_module(entry.module), entry.attribute)
    # Built as a subcommand of a group of its own, exactly as if it were registered
    # on ``app`` (no completion options of its own).
    holder = typer.Typer(add_completion=False)
    holder.callback()(_root)
    if isinstance(value, typer.Typer):
        holder.add_typer(value, name=name)
    else:
        holder.command(name)(value)
    return get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """The ``tether`` group: subcommands from :data:`SUBCOMMANDS`, loaded when named."""

    # Typer's context and command types live in its private vendored click: Any here.
    def list_commands(self, ctx: Any) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in SUBCOMMANDS:
            return None
        return load(cmd_name)


app = typer.Typer(
    name="tether",
    help="Run AI agents that act on business systems, and keep them under control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)

app.callback()(_root)


def main() -> None:
    # Whatever tether creates (databases, keys, mailboxes, Tryton's files) is its
    # owner's only, in this process and in those it starts.
    os.umask(0o077)
    app()
