"""The OWASP Top 10 for Agentic Applications (ASI01 to ASI10), each mapped to tether's
controls and the evidence the deployment and the trail hold for it."""

from __future__ import annotations

from tether.compliance._evidence import (
    OWASP,
    Inputs,
    config_evidence,
    listed,
    trail_evidence,
)
from tether.compliance._model import Control, Evidence, Obligation
from tether.compliance._trail import RUBBER_STAMP_SECONDS


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
            f"without a person: {listed(steer)}"
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
                detail=f"tools with outside content: {listed(d.untrusted_output_tools)}",
            ),
            Control(
                name="consequential calls held once tainted",
                configured=not steer,
                detail=f"default {d.untrusted_default} for {listed(d.untrusted_effects)}",
            ),
        ),
        evidence=(
            trail_evidence(
                "calls in untrusted runs", t.untrusted_decisions, "call.decided of tainted runs"
            ),
            trail_evidence(
                "of those refused or held", t.untrusted_held, "the same, decision not allow"
            ),
            trail_evidence(
                "untrusted outputs read", t.untrusted_outputs, "call.executed marked untrusted"
            ),
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
            + listed(open_grants)
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
            config_evidence("tools granted", len({g.tool for g in d.grants}), "policy grants"),
            config_evidence("tools known", d.tools_total, "the policy's tools"),
            trail_evidence("calls refused", t.decisions.get("deny", 0), "call.decided deny"),
            trail_evidence("refused as not granted", t.default_denials, "denials by default-deny"),
            trail_evidence(
                "refused by a limit", t.limit_denials, "denials by the policy's limit rules"
            ),
        ),
        gaps=tuple(gaps),
    )


def asi03(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    gaps = []
    if d.acting_for_anyone:
        gaps.append(f"agents that act for anyone: {listed(d.acting_for_anyone)}")
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
            trail_evidence(
                "refused attempts to decide",
                dict(sorted(t.refusals.items())),
                "approval.refused events by refusal",
            ),
            trail_evidence("console requests refused", t.access_refused, "access.refused events"),
            trail_evidence(
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
            + listed(d.unclassified_granted)
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
                detail=f"connectors: {listed(d.connectors)}",
            ),
            Control(
                name="every granted tool classified",
                configured=not d.unclassified_granted,
                detail="MCP tools nobody classified count as irreversible until the policy says",
            ),
        ),
        evidence=(
            config_evidence("connectors", d.connectors, "tether.yaml connectors"),
            config_evidence(
                "tools by effect", dict(sorted(d.tools_by_effect.items())), "the tools"
            ),
            config_evidence("policy version", d.policy_version, "hash of the policy file"),
        ),
        gaps=tuple(gaps),
    )


def asi05(i: Inputs) -> Obligation:
    d = i.deployment
    gaps = []
    if d.code_tools_granted:
        gaps.append("granted tools that look like they run code: " + listed(d.code_tools_granted))
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
            config_evidence(
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
                detail=f"secrets always; personal fields: {listed(d.redacted_fields)}",
            ),
        ),
        evidence=(
            trail_evidence(
                "untrusted outputs read", t.untrusted_outputs, "call.executed untrusted"
            ),
            trail_evidence("outputs redacted", t.redacted_outputs, "call.executed with redactions"),
            trail_evidence("outputs cut to size", t.truncated_outputs, "call.executed truncated"),
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
        evidence=(config_evidence("agents", d.agents, "the policy's agents"),),
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
            trail_evidence("calls failed", t.failed, "call.failed events"),
            trail_evidence("refused by a limit", t.limit_denials, "denials by limit rules"),
            trail_evidence("stop switches used", t.stops, "agent.stopped events"),
            trail_evidence("runs stopped", t.runs_stopped, "run.stopped events"),
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
            trail_evidence(
                "requests closed by outcome",
                dict(sorted(t.closed.items())),
                "approval.decided events that closed a request, by its status",
            ),
            trail_evidence("approvals edited", t.edited, "approval.decided with edited_args"),
            trail_evidence(
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
            trail_evidence(
                "outcome records by status",
                dict(sorted(t.outcomes.items())),
                "call.executed effect.outcome status",
            ),
            Evidence(
                name="verification",
                value="intact" if v.get("intact") else "NOT intact",
                source="audit verify",
            ),
            trail_evidence("stop switches used", t.stops, "agent.stopped events"),
        ),
        gaps=tuple(gaps),
    )
