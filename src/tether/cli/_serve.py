"""``tether serve``: the operator console (pages and JSON API) on this machine."""

from __future__ import annotations

import getpass
import threading
from pathlib import Path
from typing import Annotated

import typer

from tether.cli._common import ConfigOption, err, out, runtime, styled
from tether.config import load_config
from tether.runtime import Runtime


def _sweep(rt: Runtime, stopping: threading.Event, every_seconds: float) -> None:
    """Expire and escalate approvals, resume decided runs: a worker's duties."""
    while not stopping.wait(every_seconds):
        try:
            rt.sweep()
        except Exception as exc:  # a failed sweep is retried at the next one
            err.print(styled("yellow", "sweep failed", f"{type(exc).__name__}: {exc}"))


def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="Serve https with this certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="The certificate's key (PEM).")] = None,
    hash_password: Annotated[
        bool,
        typer.Option(
            "--hash-password", help="Ask for a password, print its argon2 hash for tether.yaml."
        ),
    ] = False,
    new_token: Annotated[
        bool, typer.Option("--new-token", help="Print a new API token and its sha256.")
    ] = False,
) -> None:
    """Start the operator console: approvals, runs, audit, stop switch, evaluations."""
    try:
        import uvicorn

        from tether import web
    except ImportError as exc:
        err.print(styled("red", "error", f"{exc.name} is missing: install tether[web]"))
        raise typer.Exit(2) from None
    if hash_password:
        password = getpass.getpass("password: ")
        if not password or password != getpass.getpass("again: "):
            err.print(styled("red", "error", "the passwords are empty or differ"))
            raise typer.Exit(2)
        typer.echo(web.hash_password(password))  # unwrapped, to paste into tether.yaml
        return
    if new_token:
        token, digest = web.new_token()
        typer.echo(f"token:  {token}\nsha256: {digest}")
        return
    loaded = load_config(config)
    https = ssl_certfile is not None
    with runtime(config, execute=True) as rt:
        app = web.app_from_config(loaded, rt, https=https)
        rt.durability.client  # noqa: B018  made now, not by two requests racing to make it
        if not loaded.spec.web.users:
            err.print(
                styled("yellow", "note", "no users in web: of tether.yaml; nobody can log in")
            )
        stopping = threading.Event()
        sweeper = threading.Thread(
            target=_sweep, args=(rt, stopping, loaded.spec.worker.sweep_seconds), daemon=True
        )
        sweeper.start()
        scheme = "https" if https else "http"
        out.print(f"tether console on {scheme}://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
        try:
            uvicorn.run(
                app,
                host=host,
                port=port,
                log_level="warning",
                ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
            )
        finally:
            stopping.set()
            sweeper.join(timeout=5)
