"""``tether outbox``: the local SMTP outbox that keeps every message an agent sends."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import echo_json, err, out, styled
from tether.connectors.email import Outbox, list_outbox

DEFAULT_MAILDIR = Path(".tether/outbox")

app = typer.Typer(
    help="The local SMTP outbox: keeps every message it receives in a Maildir.",
    invoke_without_command=True,
)

PortOption = Annotated[int, typer.Option("--port", "-p", help="Port on 127.0.0.1 to listen on.")]
MaildirOption = Annotated[
    Path, typer.Option("--maildir", "-m", help="Maildir folder the messages are kept in.")
]


@app.callback()
def outbox(
    ctx: typer.Context,
    port: PortOption = 8025,
    maildir: MaildirOption = DEFAULT_MAILDIR,
) -> None:
    """Start the outbox (same as `tether outbox serve`) unless a subcommand is given."""
    if ctx.invoked_subcommand is None:
        serve(port=port, maildir=maildir)


@app.command()
def serve(port: PortOption = 8025, maildir: MaildirOption = DEFAULT_MAILDIR) -> None:
    """Run the outbox on 127.0.0.1 until Ctrl-C."""
    server = Outbox(maildir, port=port)
    try:
        server.start()
    except OSError as exc:
        err.print(styled("red", "error", f"cannot listen on 127.0.0.1:{port}: {exc}"))
        raise typer.Exit(2) from None
    out.print(
        styled("green", "outbox", f"listening on 127.0.0.1:{port}, keeping mail in {maildir}"),
        soft_wrap=True,
    )
    out.print("Press Ctrl-C to stop. See what arrived: tether outbox list", soft_wrap=True)
    stopping = threading.Event()
    # Handled explicitly: a process started in the background may inherit SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        stopping.wait()
    finally:
        server.stop()
        out.print("outbox stopped", soft_wrap=True)


@app.command("list")
def list_messages(
    maildir: MaildirOption = DEFAULT_MAILDIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the messages the outbox received, oldest first."""
    if not maildir.is_dir():
        if as_json:
            echo_json([])
            return
        out.print(
            f"no messages: {maildir} does not exist yet (start `tether outbox`)", soft_wrap=True
        )
        return
    entries = list_outbox(maildir)
    if as_json:
        echo_json([entry.model_dump() for entry in entries])
        return
    if not entries:
        out.print(f"no messages in {maildir}", soft_wrap=True)
        return
    table = Table("date", "from", "to", "cc", "subject", "Message-ID")
    for entry in entries:
        table.add_row(
            entry.date, entry.sender, entry.to, entry.cc, entry.subject, entry.message_id
        )
    out.print(table)
