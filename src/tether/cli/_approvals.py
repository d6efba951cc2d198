"""``tether approvals``: see what waits for a person, and decide it."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from tether.cli._common import AsOption, ConfigOption, echo_json, json_object, out, service
from tether.cli._decide import Decider, decider
from tether.service import readable_preview

if TYPE_CHECKING:
    from tether.approvals import ApprovalRequest

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
            request.status + (" (BREAK-GLASS)" if request.break_glass else ""),
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
    title = f"{request.tool} for {request.requested_by}"
    out.print(Panel(readable_preview(request.preview), title=title), highlight=False)
    if request.break_glass:
        glass = next(vote for vote in request.votes if vote.break_glass)
        out.print(
            f"BREAK-GLASS: approved alone by {glass.approver} through the emergency path; "
            f"their reason: {glass.comment}",
            style="bold red",
            highlight=False,
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


def _settle(decide: Decider, decided: dict[str, Any], wait: float) -> None:
    record = decide.wait(decided["run_id"], wait)
    if record is None:
        status = decided.get("run_status") or "moving on in the console's process"
        out.print(f"run {decided['run_id']} {status}", highlight=False)
        return
    out.print(f"run {record['id']} {record['status']}", highlight=False)
    if record.get("output"):
        out.print(record["output"], highlight=False)


@app.command()
def approve(
    request_id: Annotated[str, typer.Argument()],
    as_user: AsOption = None,
    edit: Annotated[str | None, typer.Option(help="Changed arguments, as a JSON object.")] = None,
    comment: Annotated[
        str | None, typer.Option(help="A note for the record (the reason, with --break-glass).")
    ] = None,
    break_glass: Annotated[
        bool,
        typer.Option(
            "--break-glass",
            help="The policy's emergency path: approve alone, with a written --comment "
            "(needs a login and the break-glass role; notified loudly).",
        ),
    ] = False,
    config: ConfigOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the run to go on.")] = 120.0,
) -> None:
    """Approve (optionally with edited arguments, checked again by the gate)."""
    changes = json_object(edit, "--edit")
    with decider(config, as_user, execute=True) as decide:
        decided = decide.approve(request_id, edit=changes, comment=comment, break_glass=break_glass)
        glass = "BREAK-GLASS " if decided.get("break_glass") else ""
        out.print(
            f"{decided['id']} {glass}{decided['status']} by {decide.user} through {decide.via} "
            f"({len(decided['approved_by'])} of {decided['quorum']})",
            highlight=False,
        )
        decide.resume(decided)
        if decided["status"] == "approved":
            _settle(decide, decided, wait)


@app.command()
def reject(
    request_id: Annotated[str, typer.Argument()],
    comment: Annotated[str, typer.Option(help="Why: the agent is told.")],
    as_user: AsOption = None,
    config: ConfigOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the run to go on.")] = 120.0,
) -> None:
    """Reject with a comment; the agent gets a safe message and may re-plan."""
    with decider(config, as_user, execute=True) as decide:
        decided = decide.reject(request_id, comment=comment)
        out.print(
            f"{decided['id']} rejected by {decide.user} through {decide.via}", highlight=False
        )
        decide.resume(decided)
        _settle(decide, decided, wait)
