"""``tether run`` and ``tether runs``: start runs, follow them, cancel and undo."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import AsOption, ConfigOption, echo_json, err, out, service, styled
from tether.cli._decide import decider

app = typer.Typer(help="List, show, cancel and undo runs.", no_args_is_help=True)

WaitOption = Annotated[
    float, typer.Option(help="Seconds to wait for the run to finish or park (0: don't wait).")
]


def run(
    agent: Annotated[str, typer.Argument(help="The agent to run.")],
    task: Annotated[str, typer.Argument(help="What to do, in words.")],
    principal: Annotated[str, typer.Option(help="The user the agent acts for.")],
    config: ConfigOption = None,
    wait: WaitOption = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    vouch: Annotated[
        list[str] | None,
        typer.Option(
            help="A value you vouch for (an address, URL, IBAN, id): the run may act on it "
            "after reading outside content (repeatable)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Run with this model instead of the agent's own, e.g. "
            "openai-compatible:MODEL@http://127.0.0.1:8080/v1 or scripted:FILE."
        ),
    ] = None,
) -> None:
    """Start a run; print its id and status (completed, waiting_approval, failed, stopped)."""
    if model is not None:
        _check_model(model)
    with service(config, execute=True) as ops:
        record = ops.start(
            agent, task, principal=principal, model=model, vouched=vouch or ()
        )
        if wait > 0:
            record = ops.wait(record.id, timeout_seconds=wait)
        pending = ops.approvals(run_id=record.id)
    if as_json:
        echo_json({**record.summary(), "approvals": [request.id for request in pending]})
        return
    out.print(f"run {record.id} {record.status}")
    if record.output:
        out.print(record.output, highlight=False)
    if record.error:
        err.print(styled("red", "error", record.error))
    for request in pending:
        out.print(
            f"waiting for approval {request.id}: {request.tool} "
            f"({', '.join(request.approvers)}); decide with "
            f"`tether approvals approve {request.id}`",
            highlight=False,
        )


def _check_model(model: str) -> None:
    """Refuse a model that cannot be used before a run is queued with it."""
    from tether.agents import resolve_model
    from tether.errors import ConfigurationError

    try:
        resolve_model(model)
    except ConfigurationError as exc:
        err.print(styled("red", "error", str(exc)), soft_wrap=True)
        raise typer.Exit(2) from None


@app.command("list")
def list_(
    config: ConfigOption = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent's runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The latest runs."""
    with service(config) as ops:
        records = ops.runs(status=status, agent=agent)
    if as_json:
        echo_json([record.summary() for record in records])
        return
    table = Table("run", "agent", "for", "status", "task", "updated")
    for record in records:
        table.add_row(
            record.id,
            record.agent,
            record.principal,
            record.status,
            record.task[:50],
            f"{record.updated_at:%Y-%m-%d %H:%M:%S}",
        )
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A run: its status, the calls it made and the approvals it waited for."""
    with service(config) as ops:
        record = ops.run(run_id)
        effects = ops.calls(run_id)
        approvals = ops.approvals(run_id=run_id, status=None)
    data = {
        **record.summary(),
        "calls": [
            {
                "call": e.call_id,
                "tool": e.tool,
                "status": e.status,
                "args": e.args,
                "reversed_by": e.reversed_by,
            }
            for e in effects
        ],
        "approvals": [
            {
                "id": a.id,
                "call": a.call_id,
                "tool": a.tool,
                "status": a.status,
                "approved_by": list(a.approvals),
            }
            for a in approvals
        ],
    }
    if as_json:
        echo_json(data)
        return
    out.print(
        f"run {record.id} {record.status}: {record.agent} for {record.principal}",
        highlight=False,
    )
    out.print(f"task: {record.task}", highlight=False)
    if record.output:
        out.print(f"output: {record.output}", highlight=False)
    table = Table("call", "tool", "status", "args")
    for effect in effects:
        table.add_row(
            effect.call_id,
            effect.tool,
            effect.status + (" (undone)" if effect.reversed_by else ""),
            str(effect.args),
        )
    out.print(table)
    for approval in approvals:
        out.print(
            f"approval {approval.id}: {approval.tool} {approval.status}"
            f" {', '.join(approval.approvals)}",
            highlight=False,
        )


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument()],
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Cancel a run: its pending approvals are cancelled, it takes no further step."""
    with decider(config, as_user) as decide:
        record = decide.cancel(run_id)
    out.print(f"run {record['id']} {record['status']} by {decide.user}", highlight=False)


@app.command()
def undo(
    run_id: Annotated[str, typer.Argument()],
    call_id: Annotated[str, typer.Argument(help="The call to undo (see `tether runs show`).")],
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Undo an executed call with its reversing tool, itself a call through the gate."""
    with decider(config, as_user) as decide:
        result = decide.undo(run_id, call_id)
    kind = result["kind"]
    text = f"approval {result['request_id']}" if kind == "awaiting_approval" else result["text"]
    out.print(f"undo of {call_id}: {kind}: {text}", highlight=False)
    if kind not in ("executed", "awaiting_approval"):
        raise typer.Exit(1)
