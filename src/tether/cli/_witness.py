"""``tether witness``: run a witness that keeps and cosigns audit checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Run a witness: a separate process, with its own key, that keeps every audit "
    "checkpoint it is sent and cosigns those that extend the ones before.",
    no_args_is_help=True,
)
out = Console(emoji=False)


@app.command("serve")
def serve(
    folder: Annotated[
        Path,
        typer.Option("--dir", help="Where the witness keeps its key, checkpoints and incidents."),
    ] = Path(".tether/witness"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7300,
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust",
            help="A log's public key (.pub) a new log may start with; repeat for several. "
            "Without it, a new log's first checkpoint pins its key (trust on first use).",
        ),
    ] = None,
) -> None:
    """Serve the witness over HTTP until stopped (Ctrl-C)."""
    try:
        import uvicorn

        from tether.audit import AuditError, witness_app
    except ImportError:
        out.print("the witness server needs the web extra: pip install 'tether[web]'")
        raise typer.Exit(2) from None
    try:
        trusted = [path.read_text() for path in trust or []]
    except OSError as exc:
        out.print(f"cannot read a --trust key: {exc}")
        raise typer.Exit(2) from None
    try:
        app_ = witness_app(folder, trusted=trusted)
    except AuditError as exc:
        out.print(f"a --trust key is unusable: {exc}")
        raise typer.Exit(2) from None
    service = app_.state.service
    key_file = service.keys.path / f"{service.key.key_id}.pub"
    out.print(
        f"witness {service.key.key_id} on http://{host}:{port}; give logs its public key "
        f"{key_file} (public_key: in tether.yaml)",
        highlight=False,
    )
    uvicorn.run(app_, host=host, port=port, log_level="warning")
