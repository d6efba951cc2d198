"""Each obligation the report covers, mapped to tether's controls and the evidence the
deployment (configuration, policy) and the trail (the range's events) hold for it.

Every figure here is a field of :class:`DeploymentFacts` or :class:`TrailFacts`, each
read by a query; nothing is written by hand. What a deployment lacks is a gap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.compliance._deployment import DeploymentFacts
from tether.compliance._model import SIX_MONTHS, Control, Evidence, Obligation
from tether.compliance._trail import RUBBER_STAMP_SECONDS, TrailFacts

AI_ACT = "EU AI Act"
OWASP = "OWASP Top 10 for Agentic Applications"


@dataclass(frozen=True, kw_only=True)
class Inputs:
    deployment: DeploymentFacts
    trail: TrailFacts
    verification: dict[str, Any]
    assurance: str


def _trail(name: str, value: Any, counted: str) -> Evidence:
    return Evidence(name=name, value=value, source=f"trail: {counted}")


def _config(name: str, value: Any, read: str) -> Evidence:
    return Evidence(name=name, value=value, source=f"configuration: {read}")


def _no_events(trail: TrailFacts, what: str) -> list[str]:
    if trail.events:
        return []
    return [f"no events in the range: the trail holds no evidence that {what} in it"]


def _list(items: list[str] | tuple[str, ...]) -> str:
    return ", ".join(items) if items else "none"


# --- EU AI Act --------------------------------------------------------------------------


def art_12(i: Inputs) -> Obligation:
    d, t, v = i.deployment, i.trail, i.verification
    gaps = _no_events(t, "events were recorded")
    if not v.get("intact"):
        gaps.append(
            "the audit log does not verify: "
            + str(v.get("error") or v.get("damage") or "see the verification result")
        )
    if i.assurance == "none":
        gaps.append("no signed checkpoint covers the log (`tether audit checkpoint` signs one)")
    unsigned = (v.get("last_seq") or 0) - (v.get("signed_through") or 0)
    if v.get("intact") and unsigned > 0:
        gaps.append(f"{unsigned} latest event(s) are not yet covered by a signed checkpoint")
    return Obligation(
        id="AI-Act-Art-12",
        framework=AI_ACT,
        title="Art. 12 Record-keeping",
        asks="Events are recorded automatically over the system's lifetime, so that "
        "what it did can be traced.",
        controls=(
            Control(
                name="hash-chained audit trail",
                configured=True,
                detail=f"every gate step is an event in {d.config}'s database",
            ),
            Control(
                name="signed checkpoints",
                configured=i.assurance != "none",
                detail=f"assurance reached: {i.assurance}",
            ),
            Control(
                name="live telemetry",
                configured=d.telemetry,
                detail="OTLP export" if d.telemetry else "not configured (optional)",
                required=False,
            ),
        ),
        evidence=(
            _trail("events in range", t.events, "events between the range's bounds"),
            _trail("runs", len(t.runs), "distinct run ids of those events"),
            _trail("calls decided", sum(t.decisions.values()), "call.decided events"),
            _trail("calls executed", t.executed, "call.executed events"),
            _trail("calls failed", t.failed, "call.failed events"),
            _trail("events by type", dict(sorted(t.by_type.items())), "events grouped by type"),
            _trail("first event", _at(t.first_at), "time of the range's first event"),
            _trail("last event", _at(t.last_at), "time of the range's last event"),
            Evidence(
                name="verification",
                value="intact" if v.get("intact") else "NOT intact",
                source="audit verify: the whole log, hash chain and checkpoint signatures",
            ),
            Evidence(name="assurance", value=i.assurance, source="audit verify"),
            Evidence(
                name="signed through event",
                value=v.get("signed_through"),
                source="audit verify: the last event a valid checkpoint vouches for",
            ),
        ),
        gaps=tuple(gaps),
    )


def art_14(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    held = [g for g in d.consequential if g.approval]
    free = sorted({f"{g.agent}:{g.tool}" for g in d.consequential if not g.approval})
    operators = d.console_holders("operator")
    gaps = _no_events(t, "people oversaw the agents")
    if not d.approval_rules or not held:
        gaps.append("no consequential tool needs a person's approval")
    if t.fast_approvals:
        gaps.append(
            f"{t.fast_approvals} approval(s) were given less than "
            f"{RUBBER_STAMP_SECONDS:g}s after they were requested: check they were read"
        )
    if not operators:
        gaps.append(
            "no console user has the operator role: the stop switch is reachable only "
            "from the command line (`tether stop`)"
        )
    return Obligation(
        id="AI-Act-Art-14",
        framework=AI_ACT,
        title="Art. 14 Human oversight and the stop switch",
        asks="People can oversee the system, decide not to use its output, override it, "
        "and stop it.",
        controls=(
            Control(
                name="approvals before consequential calls",
                configured=bool(held),
                detail=f"{len(held)} of {len(d.consequential)} consequential grants need "
                f"approval; without: {_list(free)}",
            ),
            Control(
                name="approve, edit or reject with a preview",
                configured=bool(held),
                detail="approvers see the tool's preview and the model's stated reason",
            ),
            Control(
                name="stop switch",
                configured=True,
                detail="per agent or all (`tether stop`); console operators: " + _list(operators),
            ),
        ),
        evidence=(
            _config("consequential grants needing approval", len(held), "policy grants"),
            _trail("approvals requested", t.approvals_requested, "approval.requested events"),
            _trail(
                "requests closed by outcome",
                dict(sorted(t.closed.items())),
                "approval.decided events that closed a request, by its status",
            ),
            _trail(
                "votes by verdict",
                dict(sorted(t.verdicts.items())),
                "approval.decided events by verdict",
            ),
            _trail("approvals edited", t.edited, "approval.decided events with edited_args"),
            _trail(
                "confirmations by the person acted for",
                t.confirmations,
                "approval.decided events with confirmation (not another person's oversight)",
            ),
            _trail(
                "median seconds to decide",
                _round(t.median_decision_seconds),
                "closing approval.decided minus approval.requested, per request",
            ),
            _trail(
                f"approved within {RUBBER_STAMP_SECONDS:g}s",
                t.fast_approvals,
                "the same, for approved requests, below the threshold",
            ),
            _trail("stop switches used", t.stops, "agent.stopped events"),
            _trail("stop switches lifted", t.resumes, "agent.resumed events"),
            _trail("calls refused while stopped", t.stop_denials, "denials by stop-switch"),
            _trail("runs stopped", t.runs_stopped, "run.stopped events"),
        ),
        gaps=tuple(gaps),
    )


def art_19_26_6(i: Inputs) -> Obligation:
    d, t, v = i.deployment, i.trail, i.verification
    days = d.retention.days
    gaps = []
    if d.retention < SIX_MONTHS:
        gaps.append(
            f"the retention in force, {days} days (`tether audit prune`'s default), is "
            f"shorter than six months ({SIX_MONTHS.days} days): prune with "
            f"`--older-than {SIX_MONTHS.days}d` or longer"
        )
    pruned = (v.get("first_seq") or 1) > 1
    return Obligation(
        id="AI-Act-Art-19-26-6",
        framework=AI_ACT,
        title="Arts. 19 and 26(6) Keeping the logs at least six months",
        asks="Automatically generated logs are kept for at least six months.",
        controls=(
            Control(
                name="retention",
                configured=d.retention >= SIX_MONTHS,
                detail=f"{days} days; pruning leaves a signed checkpoint at the cut",
            ),
            Control(
                name="append-only storage",
                configured=True,
                detail="events are never updated; deletion only by pruning past retention",
            ),
        ),
        evidence=(
            _config("retention in force (days)", days, "the audit log's retention"),
            Evidence(
                name="oldest event kept",
                value=v.get("first_seq"),
                source="audit verify: the first sequence number in the log",
            ),
            Evidence(
                name="older events pruned",
                value=pruned,
                source="audit verify: the log starts after event 1",
            ),
            _trail("first event in range", _at(t.first_at), "time of the range's first event"),
        ),
        gaps=tuple(gaps),
    )


def art_26_2(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    unnamed = [rule.rule for rule in d.approval_rules if not rule.eligible]
    unknown = sorted(set(t.deciders) - {u for r in d.approval_rules for u in r.eligible})
    gaps = _no_events(t, "the assigned people decided anything")
    if not d.approval_rules or all(not rule.eligible for rule in d.approval_rules):
        gaps.append("no person is assigned to approve anything")
    gaps += [f"approval rule {rule} names no person who holds its roles" for rule in unnamed]
    if unknown:
        gaps.append(f"decisions by accounts the policy does not assign: {_list(unknown)}")
    return Obligation(
        id="AI-Act-Art-26-2",
        framework=AI_ACT,
        title="Art. 26(2) Assigned overseers",
        asks="Human oversight is assigned to named people with the competence, training "
        "and authority it needs.",
        controls=(
            Control(
                name="approvers by rule",
                configured=any(rule.eligible for rule in d.approval_rules),
                detail="; ".join(
                    f"{rule.rule}: {_list(rule.eligible)} (quorum {rule.quorum})"
                    for rule in d.approval_rules
                )
                or "no approval rules",
            ),
            Control(
                name="authenticated decisions",
                configured=True,
                detail="every decision records the account, surface and login method",
            ),
            Control(
                name="separation of duties",
                configured=True,
                detail="nobody approves their own request",
            ),
        ),
        evidence=(
            _config(
                "people assigned",
                len({u for rule in d.approval_rules for u in rule.eligible}),
                "users holding the approvers' roles",
            ),
            _trail(
                "decisions by person",
                dict(sorted(t.deciders.items())),
                "approval.decided events by account",
            ),
            _trail(
                "decisions by login method",
                dict(sorted(t.methods.items())),
                "approval.decided events by the actor's method",
            ),
            _trail(
                "refused attempts to decide",
                dict(sorted(t.refusals.items())),
                "approval.refused events by refusal",
            ),
        ),
        gaps=tuple(gaps),
    )


# --- OWASP Top 10 for Agentic Applications ---------------------------------------------


def asi01(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    steer = sorted(
        {
            f"{g.agent}:{g.tool}"
            for g in d.consequential
            if g.untrusted == "allow" and not g.approval
        }
    )
    gaps = []
    if steer:
        gaps.append(
            "once a run has read untrusted content these consequential calls still run "
            f"without a person: {_list(steer)}"
        )
    if not d.untrusted_output_tools:
        gaps.append("no tool marks its output as outside content, so no run is ever untrusted")
    return Obligation(
        id="ASI01",
        framework=OWASP,
        title="Agent Goal Hijack",
        asks="Content from outside cannot redirect the agent's goals or steer what it does.",
        controls=(
            Control(
                name="untrusted content taints the run",
                configured=bool(d.untrusted_output_tools),
                detail=f"tools with outside content: {_list(d.untrusted_output_tools)}",
            ),
            Control(
                name="consequential calls held once tainted",
                configured=not steer,
                detail=f"default {d.untrusted_default} for {_list(d.untrusted_effects)}",
            ),
        ),
        evidence=(
            _trail(
                "calls in untrusted runs", t.untrusted_decisions, "call.decided of tainted runs"
            ),
            _trail("of those refused or held", t.untrusted_held, "the same, decision not allow"),
            _trail("untrusted outputs read", t.untrusted_outputs, "call.executed marked untrusted"),
        ),
        gaps=tuple(gaps),
    )


def asi02(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    open_grants = sorted(
        {f"{g.agent}:{g.tool}" for g in d.consequential if not (g.approval or g.conditioned)}
    )
    gaps = []
    if open_grants:
        gaps.append(
            "consequential tools granted with no condition, limit or approval: "
            + _list(open_grants)
        )
    return Obligation(
        id="ASI02",
        framework=OWASP,
        title="Tool Misuse and Exploitation",
        asks="Agents use only the tools they need, within conditions and budgets.",
        controls=(
            Control(name="default deny", configured=True, detail="a tool not granted is refused"),
            Control(
                name="conditions and limits on consequential tools",
                configured=not open_grants,
                detail=f"{len(d.limit_rules)} limits in the policy",
            ),
        ),
        evidence=(
            _config("tools granted", len({g.tool for g in d.grants}), "policy grants"),
            _config("tools known", d.tools_total, "the policy's tools"),
            _trail("calls refused", t.decisions.get("deny", 0), "call.decided deny"),
            _trail("refused as not granted", t.default_denials, "denials by default-deny"),
            _trail("refused by a limit", t.limit_denials, "denials by the policy's limit rules"),
        ),
        gaps=tuple(gaps),
    )


def asi03(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    gaps = []
    if d.acting_for_anyone:
        gaps.append(f"agents that act for anyone: {_list(d.acting_for_anyone)}")
    return Obligation(
        id="ASI03",
        framework=OWASP,
        title="Identity and Privilege Abuse",
        asks="An agent never holds more privilege than the person it acts for, and every "
        "decision is made by an authenticated person.",
        controls=(
            Control(
                name="agents act for named roles, never beyond them",
                configured=not d.acting_for_anyone,
                detail=f"{len(d.agents)} agents; {d.users} users in the policy",
            ),
            Control(
                name="separation of duties",
                configured=True,
                detail="the requester never approves",
            ),
        ),
        evidence=(
            _trail(
                "refused attempts to decide",
                dict(sorted(t.refusals.items())),
                "approval.refused events by refusal",
            ),
            _trail("console requests refused", t.access_refused, "access.refused events"),
            _trail(
                "decisions by login method",
                dict(sorted(t.methods.items())),
                "approval.decided events by the actor's method",
            ),
        ),
        gaps=tuple(gaps),
    )


def asi04(i: Inputs) -> Obligation:
    d = i.deployment
    gaps = []
    if d.unclassified_granted:
        gaps.append(
            "granted tools whose effect nobody classified (the policy should say): "
            + _list(d.unclassified_granted)
        )
    return Obligation(
        id="ASI04",
        framework=OWASP,
        title="Agentic Supply Chain Vulnerabilities",
        asks="Tools, servers and components the agent relies on are known and governed.",
        controls=(
            Control(
                name="every tool through the gate",
                configured=True,
                detail=f"connectors: {_list(d.connectors)}",
            ),
            Control(
                name="every granted tool classified",
                configured=not d.unclassified_granted,
                detail="MCP tools nobody classified count as irreversible until the policy says",
            ),
        ),
        evidence=(
            _config("connectors", d.connectors, "tether.yaml connectors"),
            _config("tools by effect", dict(sorted(d.tools_by_effect.items())), "the tools"),
            _config("policy version", d.policy_version, "hash of the policy file"),
        ),
        gaps=tuple(gaps),
    )


def asi05(i: Inputs) -> Obligation:
    d = i.deployment
    gaps = []
    if d.code_tools_granted:
        gaps.append("granted tools that look like they run code: " + _list(d.code_tools_granted))
    return Obligation(
        id="ASI05",
        framework=OWASP,
        title="Unexpected Code Execution",
        asks="Nothing the agent produces is executed as code unless reviewed and contained.",
        controls=(
            Control(
                name="no code-running tools granted",
                configured=not d.code_tools_granted,
                detail="tether itself never executes model output",
            ),
        ),
        evidence=(
            _config(
                "code-running tools granted", d.code_tools_granted, "granted tool names (exec…)"
            ),
        ),
        gaps=tuple(gaps),
    )


def asi06(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    return Obligation(
        id="ASI06",
        framework=OWASP,
        title="Memory and Context Poisoning",
        asks="Outside content in the agent's context is marked as data and cannot become "
        "instructions or persist as trusted.",
        controls=(
            Control(
                name="outside content delimited and tainting",
                configured=bool(d.untrusted_output_tools),
                detail="outputs wrapped in <untrusted-data>; the run is marked untrusted",
            ),
            Control(
                name="redaction of model input",
                configured=True,
                detail=f"secrets always; personal fields: {_list(d.redacted_fields)}",
            ),
        ),
        evidence=(
            _trail("untrusted outputs read", t.untrusted_outputs, "call.executed untrusted"),
            _trail("outputs redacted", t.redacted_outputs, "call.executed with redactions"),
            _trail("outputs cut to size", t.truncated_outputs, "call.executed truncated"),
        ),
        gaps=()
        if d.untrusted_output_tools
        else ("no tool marks outside content: nothing in context is treated as untrusted",),
    )


def asi07(i: Inputs) -> Obligation:
    d = i.deployment
    return Obligation(
        id="ASI07",
        framework=OWASP,
        title="Insecure Inter-Agent Communication",
        asks="Messages between agents are authenticated and cannot be forged or replayed.",
        controls=(
            Control(
                name="each agent's calls through the gate",
                configured=True,
                detail=f"{len(d.agents)} agents, each under its own grants",
            ),
            Control(
                name="agent-to-agent messages mediated",
                configured=False,
                detail="tether does not carry messages between agents",
            ),
        ),
        evidence=(_config("agents", d.agents, "the policy's agents"),),
        gaps=(
            "messages between agents are outside tether: only each agent's tool calls are governed",
        )
        if len(d.agents) > 1
        else (),
    )


def asi08(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    gaps = []
    if not d.limit_rules:
        gaps.append("no limits: a looping agent is stopped only by a person")
    return Obligation(
        id="ASI08",
        framework=OWASP,
        title="Cascading Failures",
        asks="One failure or runaway agent cannot spread: budgets, timeouts and a stop.",
        controls=(
            Control(
                name="limits and budgets",
                configured=bool(d.limit_rules),
                detail=f"{len(d.limit_rules)} limits",
            ),
            Control(name="timeouts", configured=True, detail="every tool call is time-bound"),
            Control(
                name="exactly-once effects",
                configured=True,
                detail="the effect ledger never repeats a side effect",
            ),
            Control(name="stop switch", configured=True, detail="per agent or all"),
        ),
        evidence=(
            _trail("calls failed", t.failed, "call.failed events"),
            _trail("refused by a limit", t.limit_denials, "denials by limit rules"),
            _trail("stop switches used", t.stops, "agent.stopped events"),
            _trail("runs stopped", t.runs_stopped, "run.stopped events"),
        ),
        gaps=tuple(gaps),
    )


def asi09(i: Inputs) -> Obligation:
    t = i.trail
    gaps = []
    if t.fast_approvals:
        gaps.append(
            f"{t.fast_approvals} approval(s) given within {RUBBER_STAMP_SECONDS:g}s "
            "of the request: possible rubber-stamping"
        )
    return Obligation(
        id="ASI09",
        framework=OWASP,
        title="Human-Agent Trust Exploitation",
        asks="People are not misled into approving: they see what will happen and why, "
        "and can change or refuse it.",
        controls=(
            Control(
                name="previews and the model's reason on every request",
                configured=True,
                detail="the effect as the system would apply it",
            ),
            Control(name="edit or reject", configured=True, detail="with a comment"),
        ),
        evidence=(
            _trail(
                "requests closed by outcome",
                dict(sorted(t.closed.items())),
                "approval.decided events that closed a request, by its status",
            ),
            _trail("approvals edited", t.edited, "approval.decided with edited_args"),
            _trail(
                f"approved within {RUBBER_STAMP_SECONDS:g}s",
                t.fast_approvals,
                "closing approval.decided minus approval.requested, approved requests",
            ),
        ),
        gaps=tuple(gaps),
    )


def asi10(i: Inputs) -> Obligation:
    d, t, v = i.deployment, i.trail, i.verification
    unread = [g for g in d.consequential if not g.read_back]
    gaps = []
    if not v.get("intact"):
        gaps.append("the audit log does not verify: what the agents did cannot be relied on")
    if t.outcomes.get("discrepancy"):
        gaps.append(
            f"{t.outcomes['discrepancy']} executed call(s) whose system shows otherwise than "
            "the tool said (outcome discrepancies)"
        )
    return Obligation(
        id="ASI10",
        framework=OWASP,
        title="Rogue Agents",
        asks="An agent acting outside its mandate is detected and stopped.",
        controls=(
            Control(
                name="tamper-evident trail", configured=True, detail="hash chain and checkpoints"
            ),
            Control(
                name="outcome records",
                configured=len(unread) < len(d.consequential) or not d.consequential,
                detail=f"{len(d.consequential) - len(unread)} of {len(d.consequential)} "
                "consequential grants read the system back",
            ),
            Control(name="stop switch", configured=True, detail="per agent or all"),
        ),
        evidence=(
            _trail(
                "outcome records by status",
                dict(sorted(t.outcomes.items())),
                "call.executed effect.outcome status",
            ),
            Evidence(
                name="verification",
                value="intact" if v.get("intact") else "NOT intact",
                source="audit verify",
            ),
            _trail("stop switches used", t.stops, "agent.stopped events"),
        ),
        gaps=tuple(gaps),
    )


OBLIGATIONS: tuple[Callable[[Inputs], Obligation], ...] = (
    art_12,
    art_14,
    art_19_26_6,
    art_26_2,
    asi01,
    asi02,
    asi03,
    asi04,
    asi05,
    asi06,
    asi07,
    asi08,
    asi09,
    asi10,
)


def _at(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
