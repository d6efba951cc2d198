"""What the console shows of an approval request: redacted, with what it needs to decide."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from tether.approvals import ApprovalRequest
from tether.service import Service, readable_preview


def scrubbed(service: Service, request: ApprovalRequest, text: str) -> str:
    """``text`` with the request's secret values (and anything that looks like one) hidden."""
    return service.scrub(request.tool, request.args, text)


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


def how(actor: Mapping[str, Any] | None) -> str:
    """How a decision's maker was authenticated, in words: ``cli, password`` or
    ``cli, local (no login)``; ``-`` when it was not recorded."""
    if not actor:
        return "-"
    method = str(actor.get("method", "?"))
    words = f"{actor.get('surface', '?')}, {'local (no login)' if method == 'local' else method}"
    return f"BREAK-GLASS, {words}" if actor.get("break_glass") else words


def describe(
    service: Service, request: ApprovalRequest, *, now: _dt.datetime, user: str | None = None
) -> dict[str, Any]:
    """The request as the console and its API show it (arguments redacted)."""
    seconds = request.seconds_left(now) if request.status == "pending" else 0.0
    eligible = service.eligible(request)
    return {
        **request.summary(now),
        "effect": service.effect_class(request),
        "args_hash": request.args_hash,
        "preview": readable_preview(scrubbed(service, request, request.preview)),
        "why": scrubbed(service, request, request.why),
        "votes": [
            {
                "approver": vote.approver,
                "verdict": vote.verdict,
                "edited": vote.edited_args is not None,
                "comment": vote.comment,
                "at": vote.at.isoformat(),
                "how": how(vote.actor),
                "actor": vote.actor,
                "break_glass": vote.break_glass,
            }
            for vote in request.votes
        ],
        "comment": request.comment,
        "policy_change": service.policy_change(request),
        "created_at": request.created_at.isoformat(),
        "seconds_left": round(seconds),
        "time_left": time_left(seconds) if request.status == "pending" else request.status,
        "may_decide": user is not None
        and user != request.requested_by
        and user in eligible
        and user not in request.approvals
        and request.status == "pending",
    }
