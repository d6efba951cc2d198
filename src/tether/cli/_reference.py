"""The CLI reference (``docs/cli.md``), rendered from the ``tether`` command itself.

It walks the Typer application as the commands it builds (``typer.main.get_command``)
and writes one Markdown section per command path: the help text, the usage line, the
arguments and the options with their types, defaults and help. Nothing depends on
the terminal: the text is built from the parameters, not from the rendered ``--help``.

Regenerate the reference after changing a command::

    python -m tether.cli._reference > docs/cli.md

``tests/test_cli_reference.py`` fails when a command has no section, or when the
file differs from what this module renders now.
"""

from __future__ import annotations

import enum
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.main import get_command

REGENERATE = "python -m tether.cli._reference > docs/cli.md"


@dataclass(frozen=True, kw_only=True)
class CommandEntry:
    """One command of the CLI, where it sits, and its context (for usage and types)."""

    path: tuple[str, ...]
    """The words that invoke it: ``("tether", "approvals", "approve")``."""
    command: Any
    """The command Typer built (a group when it has subcommands)."""
    context: typer.Context

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def is_group(self) -> bool:
        return isinstance(self.command, TyperGroup)


def commands(app: typer.Typer | None = None) -> list[CommandEntry]:
    """Every visible command of ``app`` (default: ``tether``), depth first, in CLI order."""
    if app is None:
        from tether.cli._app import app as tether_app

        app = tether_app
    root = get_command(app)
    return list(_walk(root, ("tether",), None))


def _walk(
    command: Any, path: tuple[str, ...], parent: typer.Context | None
) -> Iterator[CommandEntry]:
    context = typer.Context(command, info_name=path[-1], parent=parent)
    yield CommandEntry(path=path, command=command, context=context)
    if isinstance(command, TyperGroup):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, (*path, name), context)


def render(app: typer.Typer | None = None) -> str:
    """The Markdown of ``docs/cli.md``."""
    entries = commands(app)
    lines = [
        f"<!-- Generated from the CLI itself: `{REGENERATE}`. Do not edit by hand;",
        "     tests/test_cli_reference.py fails when this file and the CLI disagree. -->",
        "",
        "# CLI reference",
        "",
        "Every `tether` command, its arguments and its options, as the CLI defines them;",
        "every command also takes `--help`.",
        "Commands that use a configuration read `--config`, else `TETHER_CONFIG`, else",
        "`./tether.yaml`; see [operations](operations.md) for the environment variables.",
        "",
    ]
    lines += [f"- [`{entry.name}`](#{_anchor(entry.name)})" for entry in entries]
    for entry in entries:
        lines += ["", *_section(entry)]
    return "\n".join(lines) + "\n"


def _section(entry: CommandEntry) -> list[str]:
    command = entry.command
    lines = [f"## `{entry.name}`", ""]
    help_text = inspect.cleandoc(command.help or "")
    if help_text:
        lines += [help_text, ""]
    pieces = command.collect_usage_pieces(entry.context)
    lines += ["```text", " ".join([entry.name, *pieces]), "```"]
    params = [
        param
        for param in command.get_params(entry.context)
        if not param.hidden and param.name != "help"  # every command has --help
    ]
    arguments = [param for param in params if isinstance(param, TyperArgument)]
    options = [param for param in params if isinstance(param, TyperOption)]
    if arguments:
        lines += ["", "| argument | type | default | help |", "|---|---|---|---|"]
        lines += [_argument_row(param, entry.context) for param in arguments]
    if options:
        lines += ["", "| option | type | default | help |", "|---|---|---|---|"]
        lines += [_option_row(param, entry.context) for param in options]
    if isinstance(command, TyperGroup):
        subcommands = [
            (name, sub)
            for name in command.list_commands(entry.context)
            if (sub := command.get_command(entry.context, name)) is not None and not sub.hidden
        ]
        if subcommands:
            lines += ["", "| command | what it does |", "|---|---|"]
            for name, sub in subcommands:
                full = f"{entry.name} {name}"
                lines.append(f"| [`{full}`](#{_anchor(full)}) | {_cell(_first_line(sub.help))} |")
    return lines


def _argument_row(param: TyperArgument, context: typer.Context) -> str:
    name = f"`{param.display_name_raw}{'...' if param.nargs != 1 else ''}`"
    needed = "required" if param.required else _default(param.default) or "optional"
    return f"| {name} | {_type(param, context)} | {needed} | {_help(param)} |"


def _option_row(param: TyperOption, context: typer.Context) -> str:
    names = ", ".join(f"`{name}`" for name in [*param.opts, *param.secondary_opts])
    kind = "flag" if param.is_flag and not param.secondary_opts else _type(param, context)
    if param.required:
        default = "required"
    elif param.is_flag and not param.secondary_opts:
        default = ""
    else:
        default = _default(param.default)
    return f"| {names} | {kind} | {default} | {_help(param)} |"


def _help(param: TyperArgument | TyperOption) -> str:
    text = _cell(param.help or "")
    envvar = param.envvar
    names = [envvar] if isinstance(envvar, str) else list(envvar or ())
    if names:
        variables = ", ".join(f"`{name}`" for name in names)
        text = f"{text} Environment: {variables}." if text else f"Environment: {variables}."
    return text


def _type(param: TyperArgument | TyperOption, context: typer.Context) -> str:
    label = param.display_type(context).removeprefix("<").removesuffix(">")
    if "|" in label:  # a choice
        return ", ".join(f"`{choice}`" for choice in label.split("|"))
    if label.endswith(" range"):
        bounds = [
            *([f"≥ {param.min}"] if param.min is not None else []),
            *([f"≤ {param.max}"] if param.max is not None else []),
        ]
        return f"{label.removesuffix(' range')} {', '.join(bounds)}".strip()
    return label


def _default(value: Any) -> str:
    if value is None or callable(value):
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, PurePath | str | int | float):
        return f"`{value}`" if str(value) else '`""`'
    if isinstance(value, list | tuple):
        return ", ".join(_default(item) for item in value)
    return _cell(str(value))


def _first_line(text: str | None) -> str:
    return inspect.cleandoc(text or "").split("\n\n")[0].replace("\n", " ")


def _cell(text: str) -> str:
    """Text for one cell of a Markdown table: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading like ``tether approvals approve`` (in backticks)."""
    return "-".join(heading.lower().split())


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
