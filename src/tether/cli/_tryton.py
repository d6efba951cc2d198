"""``tether tryton build`` and ``tether tryton serve``: a local Tryton with a demo company."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from tether.connectors.tryton import DEFAULT_ADMIN_PASSWORD, TEMPLATES_ENV, LocalTryton
from tether.demo import build_with_progress
from tether.errors import ConfigurationError

DEFAULT_STATE = Path(".tether/tryton")
DEFAULT_TEMPLATE_DIR = Path("~/.cache/tether/tryton")
"""As the help shows it; the same place as ``default_template_dir()``."""

app = typer.Typer(
    help="A local Tryton ERP/CRM with a demo company, for trying agents out.",
    no_args_is_help=True,
)

StateOption = Annotated[Path, typer.Option(help="Where the template, databases and logs are kept.")]
TemplateDirOption = Annotated[
    Path,
    typer.Option(
        help="Where the SQLite template is cached, shared by every state folder.",
        envvar=TEMPLATES_ENV,
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        help="PostgreSQL server URL (postgresql://user@host:5432/); default: SQLite files.",
        envvar="TETHER_TRYTON_DATABASE_URL",
    ),
]


_STOPPING = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command()
def build(
    state: StateOption = DEFAULT_STATE,
    template_dir: TemplateDirOption = DEFAULT_TEMPLATE_DIR,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Build (or rebuild) the demo company into the template database."""
    console = Console(emoji=False, highlight=False)
    try:
        local = LocalTryton(state, database_url=database_url, template_dir=template_dir)
        template = build_with_progress(local, console, force=True)
    except ConfigurationError as exc:
        console.print(f"[red]error[/red] {exc}", markup=True)
        raise typer.Exit(1) from None
    where = "PostgreSQL" if database_url else local.template_dir
    console.print(f"template database {template} is ready in {where}", markup=False)


@app.command()
def serve(
    state: StateOption = DEFAULT_STATE,
    template_dir: TemplateDirOption = DEFAULT_TEMPLATE_DIR,
    port: Annotated[int, typer.Option(help="Loopback port; 0 picks a free one.")] = 8000,
    database_url: DatabaseUrlOption = None,
    keep: Annotated[bool, typer.Option(help="Keep the database after stopping.")] = False,
) -> None:
    """Serve a fresh copy of the demo company on loopback until Ctrl-C."""
    console = Console(emoji=False, highlight=False)
    # Stop trytond on SIGTERM too, and on SIGINT even when started with it ignored.
    previous = {signum: signal.signal(signum, _interrupt) for signum in _STOPPING}
    try:
        local = LocalTryton(state, database_url=database_url, template_dir=template_dir)
        build_with_progress(local, console, force=False)
        database = local.create_database()
        try:
            _serve(local, database, port, console)
        finally:
            if not keep:
                local.drop_database(database)
    except ConfigurationError as exc:
        console.print(f"[red]error[/red] {exc}", markup=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("stopped", markup=False)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if keep:
        console.print(f"database {database} kept in {state}", markup=False)


def _serve(local: LocalTryton, database: str, port: int, console: Console) -> None:
    with local.serve(database, port=port or None) as server:
        console.print(
            f"Tryton is serving database {database} at {server.url}\n"
            f"  user: admin   password: {DEFAULT_ADMIN_PASSWORD}\n"
            "  tether.yaml:\n"
            "    connectors:\n"
            "      - type: tryton\n"
            f"        settings: {{url: {server.url}, database: {database}, "
            "username: admin, password_env: TRYTON_PASSWORD}\n"
            f"  then: export TRYTON_PASSWORD={DEFAULT_ADMIN_PASSWORD}\n"
            "Ctrl-C to stop.",
            markup=False,
            soft_wrap=True,
        )
        code = server.process.wait()
        console.print(f"trytond exited with code {code}; log: {server.log}", markup=False)
