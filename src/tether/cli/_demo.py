"""``tether demo``: the whole story on the embedded defaults."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from tether.demo import run_demo

DEFAULT_STATE = Path(".tether/demo")


def command_name() -> str:
    """How the user can run ``tether`` again: by name if it is on PATH, else by its path."""
    invoked = Path(sys.argv[0])
    if invoked.name != "tether":
        return "tether"
    on_path = shutil.which("tether")
    if on_path and Path(on_path).resolve() == invoked.resolve():
        return "tether"
    try:
        return str(invoked.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(invoked)


def demo(
    state: Annotated[
        Path, typer.Option(help="Where the demo keeps its state; emptied at each run.")
    ] = DEFAULT_STATE,
    model: Annotated[
        str | None,
        typer.Option(
            help="A live model instead of the scripts, e.g. openai-chat:gpt-4o, "
            "anthropic:claude-sonnet-4-5, or openai-compatible:MODEL@http://127.0.0.1:8080/v1 "
            "(any model Pydantic AI supports; its API key from the provider's usual variable)."
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a scene waits for its run to settle; a run still going is cancelled."
        ),
    ] = 600.0,
) -> None:
    """Run a support agent of the demo company in a local Tryton and by email: every
    call through the gate, durably; one refund is left for you to approve."""
    console = Console(emoji=False, highlight=False)
    result = run_demo(state, console, model=model, scene_timeout_seconds=timeout)
    console.rule(Text("What happened (from the audit trail)", style="bold"))
    console.print("\n".join(result.summary), markup=False)
    config = "" if state == DEFAULT_STATE else f" -c {result.config}"
    tether = command_name()
    lines = ["", "Now you decide (Tryton and the outbox start again when a command needs them):"]
    for request_id in result.pending:
        lines += [
            f"  {tether} approvals show {request_id}{config}",
            f"  {tether} approvals approve {request_id} --as alice{config}"
            "   # refused: alice asked for it",
            f"  {tether} approvals approve {request_id} --as fiona{config}",
        ]
    database = f" --db sqlite:///{state.resolve() / 'tether.db'}" if config else ""
    outbox = state.resolve() / "outbox" if config else state / "outbox"
    lines += [
        f"  {tether} runs list{config}",
        f"  {tether} outbox list --maildir {outbox}",
        f"  {tether} audit verify{database}",
        f"  {tether} serve{config}          # the console, in a browser",
    ]
    console.print("\n".join(lines), markup=False)
