"""``tether policy``: check, explain and test policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tether.calls import ProposedCall, RunState
from tether.cli._common import err, out, styled
from tether.config import load_connector_tools
from tether.errors import ConfigurationError, PolicyError
from tether.gate import NeedsApproval, evaluate
from tether.policy import Approval, Policy, load_policy, policy_json_schema
from tether.policy_tests import build_call, find_test_files, run_test_file
from tether.provenance import Identifier, ProvenanceView, Undetermined, identifiers_of, merged
from tether.tools import Toolset

app = typer.Typer(help="Check, explain and test policies.", no_args_is_help=True)


def _json_arg(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at column {exc.colno}"
        raise typer.BadParameter(message, param_hint=option) from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter(
            "must be a JSON object, e.g. '{\"amount\": 100}'", param_hint=option
        )
    return parsed


def _print_policy_error(exc: PolicyError) -> None:
    for issue in exc.issues:
        err.print(styled("red", "error", str(issue)), soft_wrap=True)


ToolsConfig = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="A tether.yaml whose connectors' tools the policy may grant (besides its toolsets).",
    ),
]


def _tools_of(config: Path | None) -> Toolset | None:
    if config is None:
        return None
    try:
        return load_connector_tools(config)
    except ConfigurationError as exc:
        err.print(styled("red", "error", str(exc)), soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Policy files to check.")],
    config: ToolsConfig = None,
) -> None:
    """Validate policy files; print every problem with its line number."""
    failed = False
    tools = _tools_of(config)
    for file in files:
        try:
            policy = load_policy(file, extra_tools=tools)
        except PolicyError as exc:
            _print_policy_error(exc)
            failed = True
            continue
        for warning in policy.warnings:
            err.print(styled("yellow", "warning", str(warning)), soft_wrap=True)
        rules = sum(len(agent.grants) for agent in policy.agents.values())
        summary = (
            f"{file}: {len(policy.agents)} agents, {rules} grants, "
            f"{len(policy.tools)} tools, version {policy.version}"
        )
        out.print(styled("green", "ok", summary), soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def explain(
    file: Annotated[Path, typer.Argument(help="The policy file.")],
    agent: Annotated[str, typer.Option(help="The agent proposing the call.")],
    principal: Annotated[str, typer.Option(help="The user the agent acts for.")],
    tool: Annotated[str, typer.Option(help="The tool's name.")],
    args: Annotated[str, typer.Option(help="The arguments, as a JSON object.")] = "{}",
    resource: Annotated[
        str | None, typer.Option(help="The targeted record's attributes, as a JSON object.")
    ] = None,
    untrusted: Annotated[
        bool, typer.Option("--untrusted", help="The run has read untrusted content.")
    ] = False,
    known_contact: Annotated[
        list[str] | None, typer.Option(help="An address the run knows (repeatable).")
    ] = None,
    vouched: Annotated[
        list[str] | None,
        typer.Option(
            help="A value the run holds as vouched for, as SOURCE=VALUE (task=bob@x.example, "
            "tool:crm.find_party=…, approval=…) or VALUE for `start` (repeatable)."
        ),
    ] = None,
    seen: Annotated[
        list[str] | None,
        typer.Option(
            help="A value the run saw in untrusted output, as TOOL=VALUE (repeatable); "
            "implies --untrusted."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    config: ToolsConfig = None,
) -> None:
    """Show how the policy decides one call, which rules matched, and why."""
    tools = _tools_of(config)
    try:
        policy = load_policy(file, extra_tools=tools)
    except PolicyError as exc:
        _print_policy_error(exc)
        raise typer.Exit(1) from None
    provenance = _provenance(vouched or [], seen or [])
    run = RunState(
        id="explain",
        untrusted=untrusted or bool(seen),
        known_contacts=frozenset(known_contact or ()),
        provenance=provenance,
    )
    try:
        call = build_call(
            policy,
            agent=agent,
            principal=principal,
            tool=tool,
            args=_json_arg(args, "--args") or {},
            resource=_json_arg(resource, "--resource"),
            run=run,
        )
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--principal") from None
    evaluation = evaluate(policy, call)
    decision = evaluation.decision
    limits = [
        {
            "rule": claim.limit.rule,
            "counter": claim.key,
            "amount": claim.amount,
            "limit": claim.limit.ceiling,
        }
        for claim in evaluation.claims
    ]
    steering = _steering(policy, call, provenance)
    if as_json:
        data = {
            "decision": decision.kind,
            **decision.to_dict(),
            "limits": limits,
            "provenance": steering,
            "functions": _functions(policy, call.agent, call.tool),
            "classified": list(policy.classified.get(call.tool, ())),
        }
        data.pop("kind")
        typer.echo(json.dumps(data, indent=2))
        return
    colour = {"allow": "green", "deny": "red", "needs_approval": "yellow"}[decision.kind]
    out.print(styled(f"bold {colour}", decision.kind, f"{tool} for {principal} by {agent}"))
    table = Table(show_header=False, box=None)
    table.add_row("rules", ", ".join(decision.rules) or "-")
    for reason in decision.reasons:
        table.add_row("reason", reason)
    if isinstance(decision, NeedsApproval):
        approval = decision.approval
        table.add_row("approvers", f"{', '.join(approval.approvers)} (quorum {approval.quorum})")
        table.add_row("expires after", str(approval.expires_after))
    if decision.kind == "deny":
        table.add_row("model is told", decision.model_message)
    for finding in decision.shadow:
        table.add_row("shadow", f"{finding.rule}: {finding.message}")
    for limit in limits:
        table.add_row(
            "limit",
            f"{limit['rule']}: +{limit['amount']:g} of {limit['limit']:g} "
            "(settled in the database at call time)",
        )
    for row in steering:
        verdict = "vouched" if row["vouched"] else "not vouched"
        sources = ", ".join(row["sources"]) or "no source"
        table.add_row("provenance", f"args.{row['arg']}: {verdict} ({sources}) {row['note']}")
    for function in _functions(policy, call.agent, call.tool):
        table.add_row("function", function)
    if call.tool in policy.classified:
        table.add_row("classified", "by the policy: " + ", ".join(policy.classified[call.tool]))
    table.add_row("policy", policy.version)
    out.print(table)


def _provenance(vouched: list[str], seen: list[str]) -> dict[str, tuple[str, ...]]:
    learned: list[tuple[Identifier, str]] = []
    for entry, default in [(v, "start") for v in vouched] + [(s, None) for s in seen]:
        source, sep, value = entry.partition("=")
        if not sep:
            source, value = default or "", entry
        if default is None:
            source = f"untrusted:{source}"
        try:
            learned += [(identifier, source) for identifier in identifiers_of(value)]
        except Undetermined as exc:
            raise typer.BadParameter(f"{value!r}: {exc}", param_hint="--vouched/--seen") from None
    return {key: tuple(sources) for key, sources in merged({}, learned).items()}


def _steering(
    policy: Policy, call: ProposedCall, table: dict[str, tuple[str, ...]]
) -> list[dict[str, Any]]:
    """Each argument that steers the call, with its provenance as the gate sees it."""
    if call.tool not in policy.tools or call.agent not in policy.agents:
        return []
    tool = policy.tools.get(call.tool)
    view = ProvenanceView(table=table, policy=policy.agents[call.agent].vouching)
    rows = []
    for name in tool.target_args:
        if call.args.get(name) in (None, "", []):
            continue
        verdict = view.verdict(call.args[name])
        rows.append(
            {
                "arg": name,
                "vouched": verdict.vouched,
                "sources": list(verdict.sources),
                "note": verdict.note,
            }
        )
    return rows


def _functions(policy: Policy, agent: str, tool: str) -> list[str]:
    """The provenance and extension functions the grant's conditions call."""
    grant = policy.agents[agent].grant_for(tool) if agent in policy.agents else None
    if grant is None:
        return []
    conditions = [grant.when, *(limit.sum for limit in grant.limits)]
    if isinstance(grant.approval, Approval):
        conditions.append(grant.approval.when)
    return sorted({f for c in conditions if c is not None for f in c.functions})


@app.command("test")
def test_(
    path: Annotated[Path, typer.Argument(help="A *_test.yaml file, or a folder to search.")],
) -> None:
    """Run policy tests (*_test.yaml): each call against its expected decision."""
    files = find_test_files(path)
    if not files:
        err.print(f"no policy tests (*_test.yaml) under {path}")
        raise typer.Exit(1)
    passed = failed = 0
    for file in files:
        try:
            results = run_test_file(file)
        except PolicyError as exc:
            _print_policy_error(exc)
            failed += 1
            continue
        for result in results:
            where = f"{result.file}:{result.line}" if result.line else result.file
            if result.passed:
                passed += 1
                out.print(styled("green", "PASS", result.name))
            else:
                failed += 1
                out.print(styled("red", "FAIL", f"{result.name} ({where}): {result.problem}"))
    out.print(f"{passed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of policy files (for editors and CI validators)."""
    typer.echo(json.dumps(policy_json_schema(), indent=2))
