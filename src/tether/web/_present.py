"""What the console shows of an approval request: redacted, with what it needs to decide."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from tether.approvals import ApprovalRequest
from tether.errors import UnknownToolError
from tether.runtime import Runtime
from tether.tools import Tool


def tool_of(runtime: Runtime, name: str) -> Tool | None:
    try:
        return runtime.policy.tools.get(name)
    except UnknownToolError:
        return None


def effect_class(runtime: Runtime, request: ApprovalRequest) -> str:
    """The call's effect class: the tool's, raised by the agent's grant if it says more."""
    tool = tool_of(runtime, request.tool)
    if tool is None:
        return "unknown"
    agent = runtime.policy.agents.get(request.agent)
    grant = agent.grant_for(request.tool) if agent else None
    return tool.effect_under(grant.effect if grant else None).value


def scrubbed(runtime: Runtime, request: ApprovalRequest, text: str) -> str:
    """``text`` with the request's secret values (and anything that looks like one) hidden."""
    tool = tool_of(runtime, request.tool)
    redactor = runtime.gate.redactor_for(tool, request.args) if tool else runtime.gate.redactor
    return redactor.redact_text(text)


def readable(preview: str) -> str:
    """A preview that is JSON (a record diff), indented; any other text as it is."""
    if not preview.startswith(("{", "[")):
        return preview
    try:
        return json.dumps(json.loads(preview), indent=2, ensure_ascii=False)
    except ValueError:
        return preview


def time_left(seconds: float) -> str:
    """``2h 05m``, ``4m 10s``, or ``expired``."""
    if seconds <= 0:
        return "expired"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def describe(
    runtime: Runtime, request: ApprovalRequest, *, now: _dt.datetime, user: str | None = None
) -> dict[str, Any]:
    """The request as the console and its API show it (arguments redacted)."""
    seconds = request.seconds_left(now) if request.status == "pending" else 0.0
    eligible = runtime.policy.users_holding(request.eligible_refs(now))
    return {
        **request.summary(now),
        "effect": effect_class(runtime, request),
        "args_hash": request.args_hash,
        "preview": readable(scrubbed(runtime, request, request.preview)),
        "why": scrubbed(runtime, request, request.why),
        "votes": [
            {
                "approver": vote.approver,
                "verdict": vote.verdict,
                "edited": vote.edited_args is not None,
                "comment": vote.comment,
                "at": vote.at.isoformat(),
            }
            for vote in request.votes
        ],
        "comment": request.comment,
        "created_at": request.created_at.isoformat(),
        "seconds_left": round(seconds),
        "time_left": time_left(seconds) if request.status == "pending" else request.status,
        "may_decide": user is not None
        and user != request.requested_by
        and user in eligible
        and user not in request.approvals
        and request.status == "pending",
    }
