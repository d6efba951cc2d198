"""The EU AI Act's obligations for deployers that tether's controls serve: Art. 12
record-keeping, Art. 14 human oversight and the stop switch, Art. 19 and 26(6)
retention, Art. 26(2) assigned overseers."""

from __future__ import annotations

from tether.compliance._evidence import (
    AI_ACT,
    Inputs,
    config_evidence,
    iso,
    listed,
    no_events,
    rounded,
    trail_evidence,
)
from tether.compliance._model import SIX_MONTHS, Control, Evidence, Obligation
from tether.compliance._trail import RUBBER_STAMP_SECONDS


def art_12(i: Inputs) -> Obligation:
    d, t, v = i.deployment, i.trail, i.verification
    gaps = no_events(t, "events were recorded")
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
            trail_evidence("events in range", t.events, "events between the range's bounds"),
            trail_evidence("runs", len(t.runs), "distinct run ids of those events"),
            trail_evidence("calls decided", sum(t.decisions.values()), "call.decided events"),
            trail_evidence("calls executed", t.executed, "call.executed events"),
            trail_evidence("calls failed", t.failed, "call.failed events"),
            trail_evidence(
                "events by type", dict(sorted(t.by_type.items())), "events grouped by type"
            ),
            trail_evidence("first event", iso(t.first_at), "time of the range's first event"),
            trail_evidence("last event", iso(t.last_at), "time of the range's last event"),
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
    gaps = no_events(t, "people oversaw the agents")
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
                f"approval; without: {listed(free)}",
            ),
            Control(
                name="approve, edit or reject with a preview",
                configured=bool(held),
                detail="approvers see the tool's preview and the model's stated reason",
            ),
            Control(
                name="stop switch",
                configured=True,
                detail="per agent or all (`tether stop`); console operators: " + listed(operators),
            ),
        ),
        evidence=(
            config_evidence("consequential grants needing approval", len(held), "policy grants"),
            trail_evidence(
                "approvals requested", t.approvals_requested, "approval.requested events"
            ),
            trail_evidence(
                "requests closed by outcome",
                dict(sorted(t.closed.items())),
                "approval.decided events that closed a request, by its status",
            ),
            trail_evidence(
                "votes by verdict",
                dict(sorted(t.verdicts.items())),
                "approval.decided events by verdict",
            ),
            trail_evidence(
                "approvals edited", t.edited, "approval.decided events with edited_args"
            ),
            trail_evidence(
                "confirmations by the person acted for",
                t.confirmations,
                "approval.decided events with confirmation (not another person's oversight)",
            ),
            trail_evidence(
                "median seconds to decide",
                rounded(t.median_decision_seconds),
                "closing approval.decided minus approval.requested, per request",
            ),
            trail_evidence(
                f"approved within {RUBBER_STAMP_SECONDS:g}s",
                t.fast_approvals,
                "the same, for approved requests, below the threshold",
            ),
            trail_evidence("stop switches used", t.stops, "agent.stopped events"),
            trail_evidence("stop switches lifted", t.resumes, "agent.resumed events"),
            trail_evidence("calls refused while stopped", t.stop_denials, "denials by stop-switch"),
            trail_evidence("runs stopped", t.runs_stopped, "run.stopped events"),
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
    short = [p for p in t.prunes if p.older_than_days < SIX_MONTHS.days]
    gaps += [
        f"on {p.at:%Y-%m-%d} {p.by} pruned events older than {p.older_than_days:g} days "
        f"({p.removed} removed): shorter than six months ({SIX_MONTHS.days} days)"
        for p in short
    ]
    applied = min([days, *(p.older_than_days for p in t.prunes)])
    pruned = (v.get("first_seq") or 1) > 1
    return Obligation(
        id="AI-Act-Art-19-26-6",
        framework=AI_ACT,
        title="Arts. 19 and 26(6) Keeping the logs at least six months",
        asks="Automatically generated logs are kept for at least six months.",
        controls=(
            Control(
                name="retention",
                configured=d.retention >= SIX_MONTHS and not short,
                detail=f"{days} days; pruning leaves a signed checkpoint at the cut",
            ),
            Control(
                name="append-only storage",
                configured=True,
                detail="events are never updated; deletion only by pruning past retention",
            ),
        ),
        evidence=(
            config_evidence("retention in force (days)", days, "the audit log's retention"),
            trail_evidence(
                "shortest retention applied (days)",
                applied,
                "audit.pruned events' older_than_days, and the retention in force",
            ),
            trail_evidence("prunings", len(t.prunes), "audit.pruned events"),
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
            trail_evidence(
                "first event in range", iso(t.first_at), "time of the range's first event"
            ),
        ),
        gaps=tuple(gaps),
    )


def art_26_2(i: Inputs) -> Obligation:
    d, t = i.deployment, i.trail
    unnamed = [rule.rule for rule in d.approval_rules if not rule.eligible]
    unknown = sorted(set(t.deciders) - {u for r in d.approval_rules for u in r.eligible})
    gaps = no_events(t, "the assigned people decided anything")
    if not d.approval_rules or all(not rule.eligible for rule in d.approval_rules):
        gaps.append("no person is assigned to approve anything")
    gaps += [f"approval rule {rule} names no person who holds its roles" for rule in unnamed]
    if unknown:
        gaps.append(f"decisions by accounts the policy does not assign: {listed(unknown)}")
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
                    f"{rule.rule}: {listed(rule.eligible)} (quorum {rule.quorum})"
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
            config_evidence(
                "people assigned",
                len({u for rule in d.approval_rules for u in rule.eligible}),
                "users holding the approvers' roles",
            ),
            trail_evidence(
                "decisions by person",
                dict(sorted(t.deciders.items())),
                "approval.decided events by account",
            ),
            trail_evidence(
                "decisions by login method",
                dict(sorted(t.methods.items())),
                "approval.decided events by the actor's method",
            ),
            trail_evidence(
                "refused attempts to decide",
                dict(sorted(t.refusals.items())),
                "approval.refused events by refusal",
            ),
        ),
        gaps=tuple(gaps),
    )
