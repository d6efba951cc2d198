"""A starter least-privilege policy from the tools' risk profiles.

Only the assessed tools are granted (everything else stays denied by default); reads
run freely, changes run within a per-run budget, and what cannot be undone or goes
outside waits for a person (two, for irreversible financial actions). Once a run has
read outside content, every consequential call waits for a person. The people are
placeholders (``staff-1``, ``approver-1``, ``approver-2``) to replace with your own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tether.compliance._risk import ToolRisk
from tether.tools import Effect

STAFF_ROLE = "staff"
APPROVER_ROLE = "approver"
WRITE_BUDGET = 5
"""Calls per run of a tool that changes records."""
APPROVED_BUDGET = 3
"""Calls per run of a tool that needs approval."""


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def starter_policy(
    risks: Sequence[ToolRisk], *, agent: str, subject: str, toolsets: Sequence[str] = ()
) -> str:
    """The text of a starter policy granting ``risks``' tools to ``agent``."""
    tools = [risk.tool for risk in risks]
    lines = [
        f"# A starter least-privilege policy for {subject}, written by `tether assess`.",
        "# Every tool not granted below is denied. Replace the placeholder people with",
        "# your own, then check it: tether policy check THIS_FILE --config tether.yaml",
        "version: 1",
        f"description: {_q('Starter policy for ' + subject)}",
    ]
    if toolsets:
        lines.append("toolsets: [" + ", ".join(_q(t) for t in toolsets) + "]")
    lines += [
        "",
        "roles:",
        f"  {STAFF_ROLE}:",
        f"    description: {_q('The people the agent acts for; it never does more.')}",
        "    may: [" + ", ".join(_q(t) for t in tools) + "]",
        f"  {APPROVER_ROLE}:",
        f"    description: {_q('Confirm the calls that cannot be undone or that go outside.')}",
        "    may: [" + ", ".join(_q(t) for t in tools) + "]",
        "",
        "users:                       # placeholders: replace with your people",
        f"  staff-1: {{roles: [{STAFF_ROLE}]}}",
        f"  approver-1: {{roles: [{APPROVER_ROLE}]}}",
        f"  approver-2: {{roles: [{APPROVER_ROLE}]}}",
        "",
        "defaults:",
        "  approval:",
        f"    approvers: [role:{APPROVER_ROLE}]",
        "    quorum: 1",
        "    expires: 24h",
        "  untrusted:                  # once a run has read outside content…",
        "    effects: [write, communicate, irreversible]",
        "    decision: needs_approval  # …every consequential call waits for a person",
    ]
    personal = sorted({name for risk in risks for name in risk.personal_fields})
    if personal:
        lines += ["", "redact:", "  fields: [" + ", ".join(_q(f) for f in personal) + "]"]
    lines += [
        "",
        "agents:",
        f"  {agent}:",
        f"    description: {_q('Acts for the staff within the grants below.')}",
        f"    may_act_for: [role:{STAFF_ROLE}]",
        "    tools:",
    ]
    for risk in risks:
        lines += _grant(risk)
    return "\n".join(lines) + "\n"


def _grant(risk: ToolRisk) -> list[str]:
    rule = risk.tool.replace(".", "-")
    lines = [
        f"      # {risk.risk} risk: {'; '.join(risk.reasons)}",
        f"      - id: {_q(rule)}",
        f"        tool: {_q(risk.tool)}",
    ]
    if risk.control == "allow":
        return lines
    if risk.control == "allow_with_limits":
        lines.append("        approval: never")
        budget = WRITE_BUDGET
    else:
        lines.append("        approval:                # always: a person confirms each call")
        lines.append(f"          approvers: [role:{APPROVER_ROLE}]")
        lines.append(f"          quorum: {2 if risk.control == 'approval_by_two' else 1}")
        budget = APPROVED_BUDGET
    lines += [
        "        limits:",
        f"          - {{id: {_q(rule + '-per-run')}, per: run, count: {budget}}}",
    ]
    if risk.effect is not Effect.READ:
        lines.append("        untrusted: needs_approval")
    return lines
