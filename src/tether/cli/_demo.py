"""``tether demo``: the whole story on the embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tether.demo._story import run_demo


def demo(
    state: Annotated[
        Path, typer.Option(help="Where the demo keeps its state; emptied at each run.")
    ] = Path(".tether/demo"),
) -> None:
    """Run scripted agents on a local support desk, every call through the gate."""
    console = Console()
    pending = run_demo(state, console)
    console.rule("[bold]What happened")
    console.print(
        "Every call above passed the gate: allowed calls ran, denied calls never touched the "
        "desk and the agent was told why in safe words, and calls that need a person "
        f"were held: [bold yellow]{pending} waiting for approval[/]."
    )
    console.print(
        "Ask the policy about any call yourself:\n"
        "  tether policy explain examples/support-desk/policy.yaml --agent support-desk "
        "--principal alice --tool erp.create_credit_note "
        '--args \'{"invoice_id": 101, "amount": 500, "reason": "outage"}\' '
        '--resource \'{"team": "emea"}\'\n'
        "  tether policy test examples/"
    )
