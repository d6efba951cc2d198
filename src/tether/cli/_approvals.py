"""``tether approvals``: see what waits for a person, and decide it."""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from tether.approvals import ApprovalRequest
from tether.cli._common import ConfigOption, cli_actor, echo_json, json_object, out, service
from tether.service import Service

app = typer.Typer(help="List, show, approve and reject approval requests.", no_args_is_help=True)


def describe(request: ApprovalRequest) -> dict[str, Any]:
    return request.summary(_dt.datetime.now(_dt.UTC))


@app.command("list")
def list_(
    config: ConfigOption = None,
    for_user: Annotated[
        str | None, typer.Option("--for", help="Only what USER may decide.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pending approval requests."""
    with service(config) as ops:
        if for_user:
            requests = ops.approvals_for(for_user)
        else:
            requests = ops.approvals(status=None if every else "pending")
    if as_json:
        echo_json([describe(request) for request in requests])
        return
    table = Table("id", "agent", "for", "tool", "rule", "approvers", "status", "expires")
    for request in requests:
        table.add_row(
            request.id,
            request.agent,
            request.requested_by,
            request.tool,
            request.rule,
            f"{', '.join(request.approvers)} ({len(request.approvals)}/{request.quorum})",
            request.status,
            f"{request.expires_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@app.command()
def show(
    request_id: Annotated[str, typer.Argument()],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One request: what will happen, why, and who may decide."""
    with service(config) as ops:
        request = ops.approval(request_id)
        change = ops.policy_change(request)
    if as_json:
        echo_json({**describe(request), "policy_change": change})
        return
    out.print(
        Panel(request.preview, title=f"{request.tool} for {request.requested_by}"), highlight=False
    )
    out.print(f"why: {request.why or '-'}", highlight=False)
    out.print(f"required by {request.rule}: {request.reason}", highlight=False)
    out.print(
        f"approvers: {', '.join(request.approvers)}; {len(request.approvals)} of "
        f"{request.quorum} approved; status {request.status}; expires "
        f"{request.expires_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    if change is not None:
        out.print(
            f"[yellow]the policy changed since this was asked[/yellow]: {change}; an "
            "approval will not let the call run",
            highlight=False,
        )


def _settle(ops: Service, request: ApprovalRequest, wait: float) -> None:
    record = (
        ops.wait(request.run_id, timeout_seconds=wait) if wait > 0 else ops.run(request.run_id)
    )
    out.print(f"run {record.id} {record.status}", highlight=False)
    if record.output:
        out.print(record.output, highlight=False)


@app.command()
def approve(
    request_id: Annotated[str, typer.Argument()],
    as_user: Annotated[str, typer.Option("--as", help="The approver (must hold the role).")],
    edit: Annotated[str | None, typer.Option(help="Changed arguments, as a JSON object.")] = None,
    comment: Annotated[str | None, typer.Option(help="A note for the record.")] = None,
    config: ConfigOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the run to go on.")] = 120.0,
) -> None:
    """Approve (optionally with edited arguments, checked again by the gate)."""
    changes = json_object(edit, "--edit")
    with service(config, execute=True) as ops:
        request = ops.approve(request_id, by=cli_actor(as_user), edit=changes, comment=comment)
        out.print(
            f"{request.id} {request.status} by {as_user} "
            f"({len(request.approvals)} of {request.quorum})",
            highlight=False,
        )
        if request.status == "approved":
            _settle(ops, request, wait)


@app.command()
def reject(
    request_id: Annotated[str, typer.Argument()],
    as_user: Annotated[str, typer.Option("--as", help="The approver (must hold the role).")],
    comment: Annotated[str, typer.Option(help="Why: the agent is told.")],
    config: ConfigOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the run to go on.")] = 120.0,
) -> None:
    """Reject with a comment; the agent gets a safe message and may re-plan."""
    with service(config, execute=True) as ops:
        request = ops.reject(request_id, by=cli_actor(as_user), comment=comment)
        out.print(f"{request.id} rejected by {as_user}", highlight=False)
        _settle(ops, request, wait)
