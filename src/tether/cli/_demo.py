"""``tether demo``: the whole story on the embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from tether.demo._story import run_demo

DEFAULT_STATE = Path(".tether/demo")


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
    lines = ["", "Now you decide:"]
    for request_id in result.pending:
        lines += [
            f"  tether approvals show {request_id}{config}",
            f"  tether approvals approve {request_id} --as fiona{config}"
            "      # alice asked, so alice may not",
        ]
    database = f" --db sqlite:///{state.resolve() / 'tether.db'}" if config else ""
    lines += [f"  tether runs list{config}", f"  tether audit verify{database}"]
    console.print("\n".join(lines), markup=False)
