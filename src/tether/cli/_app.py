from __future__ import annotations

import typer

from tether.cli import _demo, _policy

app = typer.Typer(
    name="tether",
    help="Run AI agents that act on business systems, and keep them under control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(_policy.app, name="policy")
app.command("demo")(_demo.demo)


def main() -> None:
    app()
