"""``tether evidence``: export a portable evidence bundle; verify one offline.

Exit codes: 0 ok; 1 ``verify`` found a problem; 2 nothing could be exported or read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    help="Portable evidence: a run's, an agent's or a period's audit trail in one file, "
    "verifiable offline.",
    no_args_is_help=True,
)
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


@app.command("export")
def export(
    out_file: Annotated[Path, typer.Option("--out", help="The bundle file to write.")],
    run: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From: an ISO time or a duration ago (7d).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Until (excluded): an ISO time or a duration ago.")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    keys: Annotated[Path | None, typer.Option("--keys", help="Key directory.")] = None,
) -> None:
    """Write the events in scope, the chain segments and checkpoints that prove them (with
    the witnesses' cosignatures), the public keys, the policies and the approval chains."""
    from tether.audit import AuditError
    from tether.cli._audit import _since, _witnesses, _writing
    from tether.evidence import export_bundle

    with _writing(db, keys, _witnesses(None)) as audit:
        try:
            manifest = export_bundle(
                audit,
                out_file,
                run=run,
                agent=agent,
                since=_since(since),
                until=_since(until),
            )
        except AuditError as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
    out.print(
        f"wrote {len(manifest['selected'])} events ({len(manifest['segments'])} chain "
        f"segment(s), {len(manifest['checkpoints'])} checkpoints) to {out_file}",
        highlight=False,
    )


@app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle file.")],
    keys: Annotated[
        Path | None,
        typer.Option("--keys", help="Trusted public keys (the log's .pub files)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a bundle offline, without the database; exit 1 naming the first problem."""
    from tether.evidence import verify_bundle

    report = verify_bundle(bundle, keys=keys)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        trust = "trusted keys" if report.keys_trusted else "the bundle's own keys (pass --keys)"
        out.print(
            f"[green]verified[/green] {report.selected} events of log {report.log_id} "
            f"({report.events} records, {report.checkpoints} checkpoints), signed by "
            f"{', '.join(report.key_ids)} checked against {trust}; assurance: "
            f"{report.assurance}"
            + (f" by {report.witnessed_by}" if report.witnessed_by else ""),
            highlight=False,
        )
    else:
        first = report.problems[0]
        where = f" at event {first.seq}" if first.seq is not None else ""
        out.print(
            f"[red]REFUSED[/red] {bundle}: {first.kind}{where}: {escape(first.message)}",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)
