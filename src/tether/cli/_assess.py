"""``tether assess``: does a process need an agent; each tool's risk; a starter policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import err, out, styled
from tether.errors import ConfigurationError

_RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}


def assess(
    source: Annotated[
        Path, typer.Argument(help="A tether.yaml (its connectors' tools) or a process file.")
    ],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the starter policy here (else it is printed)."),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(help="The agent the policy grants the tools to (default: the config's)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Say whether a process needs an agent, classify each tool by risk, and write a
    starter least-privilege policy with approvals where a person should confirm."""
    from tether.compliance import assess as run_assessment

    try:
        found = run_assessment(source, agent=agent)
    except ConfigurationError as exc:
        err.print(styled("red", "error", str(exc)), soft_wrap=True)
        raise typer.Exit(1) from None
    if out_file is not None:
        out_file.write_text(found.policy, encoding="utf-8")
    if as_json:
        out.print_json(json.dumps(found.to_dict()))
        return
    out.print(styled("bold", "verdict", found.verdict), soft_wrap=True)
    table = Table(title=f"tools of {found.subject}")
    for column in ("tool", "effect", "undo", "reach", "data", "risk", "starter policy"):
        table.add_column(column, overflow="fold")
    for risk in found.tools:
        table.add_row(
            risk.tool,
            str(risk.effect),
            risk.reversed_by or risk.reversibility.replace("_", " "),
            risk.reach.replace("_", " "),
            risk.data,
            styled(_RISK_STYLE[risk.risk], risk.risk, ""),
            risk.control.replace("_", " "),
        )
    out.print(table)
    if out_file is None:
        out.print(found.policy, soft_wrap=True)
        return
    if _is_process(source):
        then = (
            "once tools of these names are connected, check it: "
            f"tether policy check {out_file} --config tether.yaml"
        )
    else:
        then = f"check it: tether policy check {out_file} --config {source}"
    out.print(styled("green", "wrote", f"the starter policy to {out_file}; {then}"), soft_wrap=True)


def _is_process(source: Path) -> bool:
    from tether.compliance import is_process_file

    return is_process_file(source)
