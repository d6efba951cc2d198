"""``tether report``: the compliance report over a time range, as HTML or JSON."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Annotated, Literal

import typer

from tether.cli._common import ConfigOption, err, out, styled
from tether.errors import TetherError


def _moment(value: str | None, option: str) -> _dt.datetime | None:
    """An ISO time, or a duration ago (``90m``, ``2h``, ``30d``)."""
    from tether.policy import parse_duration

    if value is None:
        return None
    try:
        return _dt.datetime.now(_dt.UTC) - parse_duration(value)
    except ValueError:
        pass
    try:
        at = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            "write an ISO time (2026-11-25T09:00:00Z) or a duration ago (90m, 2h, 30d)",
            param_hint=option,
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=_dt.UTC)


def report(
    config: ConfigOption = None,
    since: Annotated[
        str | None, typer.Option(help="From: an ISO time or a duration ago (30d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="To: an ISO time or a duration ago.")] = None,
    output_format: Annotated[
        Literal["html", "json"], typer.Option("--format", help="html or json.")
    ] = "html",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report here (else print it).")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A checkpoint file exported earlier, for the exported assurance."),
    ] = None,
) -> None:
    """The compliance report: for each obligation (EU AI Act Arts. 12, 14, 19, 26; OWASP
    Top 10 for Agentic Applications) the controls configured, the evidence from the
    configuration, the policy and the audit trail, and the gaps."""
    from tether.compliance import build_report, render_html, render_json
    from tether.config import load_config

    start, end = _moment(since, "--since"), _moment(until, "--until")
    try:
        built = build_report(load_config(config), since=start, until=end, checkpoint=checkpoint)
    except (TetherError, ValueError) as exc:
        err.print(styled("red", "error", str(exc)), soft_wrap=True)
        raise typer.Exit(1) from None
    text = render_html(built) if output_format == "html" else render_json(built)
    if out_file is None:
        out.file.write(text)
        return
    out_file.write_text(text, encoding="utf-8")
    counts = built.to_dict()["summary"]
    out.print(
        styled(
            "green",
            "wrote",
            f"{out_file}: {len(built.obligations)} obligations, {counts['met']} met, "
            f"{counts['partial']} partial, {counts['gap']} with gaps; "
            f"{built.events_in_range} events in range",
        ),
        soft_wrap=True,
    )
