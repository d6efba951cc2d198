"""``tether demo``: the whole story on the embedded defaults."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from tether.demo._story import run_demo

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
) -> None:
    """Run scripted agents on a local support desk: every call through the gate, durably."""
    console = Console(emoji=False, highlight=False)
    result = run_demo(state, console)
    console.rule(Text("What happened", style="bold"))
    console.print(
        "Allowed calls ran; denied calls never touched the desk and the agent was told why "
        "in safe words; the refund the injected email asked for waits for a finance lead.",
        markup=False,
    )
    config = "" if state == DEFAULT_STATE else f" -c {result.config}"
    tether = command_name()
    lines = ["", "Now you decide:"]
    for request_id in result.pending:
        lines += [
            f"  {tether} approvals show {request_id}{config}",
            f"  {tether} approvals approve {request_id} --as alice{config}"
            "   # refused: alice asked for it",
            f"  {tether} approvals approve {request_id} --as fiona{config}",
        ]
    database = f" --db sqlite:///{state.resolve() / 'tether.db'}" if config else ""
    lines += [f"  {tether} runs list{config}", f"  {tether} audit verify{database}"]
    console.print("\n".join(lines), markup=False)
