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
) -> None:
    """Serve the witness over HTTP until stopped (Ctrl-C)."""
    try:
        import uvicorn

        from tether.audit import witness_app
    except ImportError:
        out.print("the witness server needs the web extra: pip install 'tether[web]'")
        raise typer.Exit(2) from None
    app_ = witness_app(folder)
    service = app_.state.service
    key_file = service.keys.path / f"{service.key.key_id}.pub"
    out.print(
        f"witness {service.key.key_id} on http://{host}:{port}; give logs its public key "
        f"{key_file} (public_key: in tether.yaml)",
        highlight=False,
    )
    uvicorn.run(app_, host=host, port=port, log_level="warning")
