"""How risky a tool is: its effect, whether it can be undone, how far it reaches
outside, and how sensitive the data it handles is; and what a starter policy should
therefore demand of it.

The tool's own metadata decides effect, reversibility and reach (``effect``,
``reversed_by``, ``untrusted_output``, ``secret_args``). Sensitivity is read from the
words of its name, resource and argument names, the only thing a catalogue says about
data; a process description states it instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from tether.compliance._process import Sensitivity, StepSpec
from tether.tools import Effect, Tool

Reversibility = Literal["no_effect", "reversible", "by_hand", "irreversible"]
Reach = Literal["internal", "reads_outside", "sends_outside"]
Risk = Literal["low", "medium", "high", "critical"]
Control = Literal["allow", "allow_with_limits", "approval", "approval_by_two"]

_SENSITIVITY_ORDER: tuple[Sensitivity, ...] = ("internal", "personal", "financial", "secret")
_WORDS: dict[Sensitivity, re.Pattern[str]] = {
    "secret": re.compile(r"password|passphrase|token|secret|api_?key|credential|private_?key"),
    "financial": re.compile(
        r"invoice|credit|payment|refund|amount|price|bank|iban|salary|tax|sale|order|ledger"
    ),
    "personal": re.compile(
        r"party|parties|customer|contact|email|phone|address|person|employee|patient|birth"
    ),
}
PERSONAL_FIELDS = re.compile(r"^(phone|mobile|address|street|birth_?date|iban|ssn|passport)$")
"""Argument names a starter policy redacts from model input and the record."""


@dataclass(frozen=True, kw_only=True)
class ToolRisk:
    """A tool's risk profile and the control the starter policy gives it."""

    tool: str
    """The tool's name."""
    effect: Effect
    """Its effect class."""
    reversibility: Reversibility
    """``no_effect`` (reads), ``reversible`` (a tool undoes it), ``by_hand`` (a change
    with no undoing tool: a person can put it right in the system), ``irreversible``."""
    reversed_by: str | None
    """The tool that undoes it, if declared."""
    reach: Reach
    """``sends_outside`` (communicate), ``reads_outside`` (outside content: it taints
    the run), ``internal``."""
    data: Sensitivity
    """The most sensitive data it handles."""
    risk: Risk
    """The overall level."""
    control: Control
    """What the starter policy demands."""
    reasons: tuple[str, ...]
    """Why, in words."""
    personal_fields: tuple[str, ...] = ()
    """Argument names that carry personal data (redacted by the starter policy)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "effect": str(self.effect),
            "reversibility": self.reversibility,
            "reversed_by": self.reversed_by,
            "reach": self.reach,
            "data": self.data,
            "risk": self.risk,
            "control": self.control,
            "reasons": list(self.reasons),
        }


def sensitivity_of(words: Iterable[str], *, secret: bool = False) -> Sensitivity:
    """The most sensitive category the words name (``secret`` when told so)."""
    if secret:
        return "secret"
    text = " ".join(words).lower()
    for level in reversed(_SENSITIVITY_ORDER[1:]):
        if _WORDS[level].search(text):
            return level
    return "internal"


def classify_tool(tool: Tool) -> ToolRisk:
    """The risk of a tool, from its metadata."""
    fields = list(tool.args_model.model_fields)
    data = sensitivity_of([tool.name, tool.resource or "", *fields], secret=bool(tool.secret_args))
    if tool.effect is Effect.READ:
        reversibility: Reversibility = "no_effect"
    elif tool.effect is Effect.IRREVERSIBLE:
        reversibility = "irreversible"
    elif tool.reversed_by:
        reversibility = "reversible"
    elif tool.effect is Effect.COMMUNICATE:
        reversibility = "irreversible"  # what was sent cannot be unsent
    else:
        reversibility = "by_hand"
    reach: Reach = (
        "sends_outside"
        if tool.effect is Effect.COMMUNICATE
        else "reads_outside"
        if tool.untrusted_output
        else "internal"
    )
    personal = tuple(name for name in fields if PERSONAL_FIELDS.match(name))
    return _profile(
        tool.name,
        effect=tool.effect,
        reversibility=reversibility,
        reversed_by=tool.reversed_by,
        reach=reach,
        data=data,
        personal=personal,
    )


def step_effect(step: StepSpec) -> Effect:
    """The effect class of a described step."""
    if step.changes and not step.reversible:
        return Effect.IRREVERSIBLE
    if step.reaches_outside:
        return Effect.COMMUNICATE
    return Effect.WRITE if step.changes else Effect.READ


def classify_step(step: StepSpec) -> ToolRisk:
    """The risk of a described step, from what the description says of it."""
    effect = step_effect(step)
    if effect is Effect.READ:
        reversibility: Reversibility = "no_effect"
    elif not step.reversible or effect is Effect.COMMUNICATE:
        reversibility = "irreversible"
    else:
        reversibility = "by_hand"
    reach: Reach = (
        "sends_outside"
        if step.reaches_outside
        else "reads_outside"
        if step.outside_content
        else "internal"
    )
    return _profile(
        step.tool_name,
        effect=effect,
        reversibility=reversibility,
        reversed_by=None,
        reach=reach,
        data=step.data,
        personal=(),
    )


def _profile(
    name: str,
    *,
    effect: Effect,
    reversibility: Reversibility,
    reversed_by: str | None,
    reach: Reach,
    data: Sensitivity,
    personal: tuple[str, ...],
) -> ToolRisk:
    reasons: list[str] = []
    sensitive = data in ("financial", "secret")
    if effect is Effect.READ:
        risk: Risk = "medium" if data != "internal" or reach == "reads_outside" else "low"
        control: Control = "allow"
        reasons.append("only reads")
        if reach == "reads_outside":
            reasons.append("returns outside content: reading it marks the run untrusted")
    elif effect is Effect.WRITE:
        risk = "high" if sensitive and reversibility == "by_hand" else "medium"
        control = "approval" if risk == "high" else "allow_with_limits"
        reasons.append(
            f"changes records; undone by {reversed_by}"
            if reversed_by
            else "changes records; no tool undoes it"
        )
    elif effect is Effect.COMMUNICATE:
        risk = "high"
        control = "approval"
        reasons.append("sends something outside, which cannot be taken back")
    else:
        risk = "critical" if sensitive else "high"
        control = "approval_by_two" if risk == "critical" else "approval"
        reasons.append("cannot be undone")
    if data != "internal":
        reasons.append(f"handles {data} data")
    return ToolRisk(
        tool=name,
        effect=effect,
        reversibility=reversibility,
        reversed_by=reversed_by,
        reach=reach,
        data=data,
        risk=risk,
        control=control,
        reasons=tuple(reasons),
        personal_fields=personal,
    )
