"""The gate's pure steps: identify, permit, check inputs, decide. No I/O here.

Limits are the one check that needs shared state: this module says which limit
claims a call makes, and :mod:`tether.gate._limits` settles them in the database.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.calls import ProposedCall
from tether.errors import ToolArgumentsError
from tether.gate._decision import Allow, ApprovalRequirement, Decision, Deny, Finding, NeedsApproval
from tether.policy import (
    Activation,
    AgentPolicy,
    Approval,
    Condition,
    ConditionError,
    Grant,
    Limit,
    Policy,
)
from tether.provenance import NO_VOUCHING, ProvenanceView, addresses_in
from tether.tools import Effect, Tool


@dataclass(frozen=True, kw_only=True, slots=True)
class LimitClaim:
    """A call's use of one limit: how much it adds to which counter."""

    limit: Limit
    key: str
    """Whose counter: ``run:ID``, ``agent:NAME`` or ``principal:ID``, then the rule id."""
    amount: float
    """1 for a count limit; the value of the ``sum`` expression for a sum limit."""


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """The decision before limits are settled, and the limit claims to settle."""

    decision: Decision
    claims: tuple[LimitClaim, ...] = ()
    args: dict[str, Any] | None = None
    """The validated arguments, when validation passed."""


_SAFE_DENIALS = {
    "identify": "This agent is not set up to act in this context.",
    "permit": "This action is not permitted for this agent or the person it acts for.",
    "inputs": "The request does not meet the conditions this action requires.",
    "limit": "A limit on this action has been reached; do not retry it now.",
    "untrusted": "This action is not allowed after reading outside content in this run.",
}


class _Refused(Exception):
    def __init__(self, deny: Deny) -> None:
        self.deny = deny


def evaluate(policy: Policy, call: ProposedCall, *, now: _dt.datetime | None = None) -> Evaluation:
    """Decide ``call`` under ``policy`` without touching the database."""
    return _Evaluator(policy, call, now).run()


class _Evaluator:
    def __init__(self, policy: Policy, call: ProposedCall, now: _dt.datetime | None) -> None:
        self.policy = policy
        self.call = call
        self.rules: list[str] = []
        self.reasons: list[str] = []
        self.shadow: list[Finding] = []
        self.effect: Effect | None = None
        self.args: dict[str, Any] | None = None
        self.untrusted_rule: str | None = None
        """Set when the run is tainted and the policy says to ask a person."""
        self.untrusted_reason = "the run has read untrusted content"
        self.tool: Tool | None = None
        self._view: ProvenanceView | None = None
        self.activation = Activation(self._sources(now), policy.projection, self._functions)

    @property
    def view(self) -> ProvenanceView:
        """The run's provenance, with the agent's allow-list (made on first use)."""
        if self._view is None:
            agent = self.policy.agents.get(self.call.agent)
            self._view = ProvenanceView(
                table=self.call.run.provenance,
                policy=agent.vouching if agent is not None else NO_VOUCHING,
            )
        return self._view

    def _functions(self) -> dict[str, Callable[..., Any]]:
        view = self.view
        return {
            "vouched": view.vouched,
            "vouched_by": view.vouched_by,
            "from_untrusted": view.from_untrusted,
        }

    def _recipients(self) -> list[str]:
        tool = self.tool
        if tool is None or not tool.recipients:
            name = tool.name if tool else self.call.tool
            raise ConditionError(f"{name} declares no address fields, so it has no recipients")
        args = self.args if self.args is not None else dict(self.call.args)
        return list(
            dict.fromkeys(a for name in tool.recipients for a in addresses_in(args.get(name)))
        )

    def _sources(self, now: _dt.datetime | None) -> dict[str, Callable[[], Any]]:
        call = self.call
        return {
            "recipients": self._recipients,
            "args": lambda: self.args if self.args is not None else dict(call.args),
            "principal": call.principal.as_cel,
            "run": call.run.as_cel,
            "resource": lambda: dict(call.resource or {}),
            "agent": lambda: {"name": call.agent, "version": call.agent_version or ""},
            "tool": lambda: {"name": call.tool, "effect": self.effect.value if self.effect else ""},
            "now": lambda: now or _dt.datetime.now(_dt.UTC),
        }

    def run(self) -> Evaluation:
        try:
            agent, tool = self.identify()
            grant = self.permit(agent, tool)
            claims = self.check_inputs(grant, tool) if grant and tool else ()
            decision = self.decide(grant)
        except _Refused as refused:
            return Evaluation(decision=refused.deny, args=self.args)
        finally:
            # The variable sources refer back to this evaluator: break the cycle now,
            # or the cyclic garbage collector pauses every few hundred decisions.
            del self.activation
        return Evaluation(decision=decision, claims=claims, args=self.args)

    # --- identify ---------------------------------------------------------------

    def identify(self) -> tuple[AgentPolicy | None, Tool | None]:
        call = self.call
        agent = self.policy.agents.get(call.agent)
        if agent is None:
            self.refuse("default-deny", f"agent {call.agent!r} is not in the policy", "identify")
        tool = self.policy.tools.get(call.tool) if call.tool in self.policy.tools else None
        self.tool = tool
        if tool is None:
            self.refuse("default-deny", f"tool {call.tool!r} is not a known tool", "permit")
        return agent, tool

    # --- permit -----------------------------------------------------------------

    def permit(self, agent: AgentPolicy | None, tool: Tool | None) -> Grant | None:
        call = self.call
        if agent is None or tool is None:
            return None  # only reached in shadow mode
        if not agent.may_act_for(call.principal):
            self.refuse(
                f"{agent.name}.may_act_for",
                f"agent {agent.name!r} may not act for {call.principal.id!r}",
                "identify",
            )
        grant = agent.grant_for(tool.name)
        if grant is None:
            self.effect = tool.effect
            self.refuse(
                "default-deny", f"no rule grants {tool.name!r} to agent {agent.name!r}", "permit"
            )
            return None
        self.effect = tool.effect_under(grant.effect)
        self.rules.append(grant.rule)
        self.reasons.append(f"{grant.rule} grants {tool.name} ({self.effect.value})")
        self.validate_args(tool)  # before any condition reads them
        self.check_principal_permission(tool)
        self.check_scope(agent, grant, tool)
        return grant

    def check_principal_permission(self, tool: Tool) -> None:
        principal = self.call.principal
        for role in sorted(principal.roles):
            for permission in self.policy.permissions.get(role, ()):
                if not permission.matcher.matches(tool.name):
                    continue
                if permission.when is None or self.holds(
                    permission.when, permission.rule, "permit"
                ):
                    self.rules.append(permission.rule)
                    return
        roles = ", ".join(sorted(principal.roles)) or "no roles"
        self.refuse(
            f"principal:{principal.id}",
            f"{principal.id} ({roles}) may not use {tool.name} themselves, "
            "so no agent may do it for them",
            "permit",
        )

    def check_scope(self, agent: AgentPolicy, grant: Grant, tool: Tool) -> None:
        if agent.scope is None or tool.resource is None:
            return
        rule = f"{agent.name}.scope"
        if self.call.resource is None:
            self.refuse(
                rule,
                f"{tool.name} targets a {tool.resource} that was not identified, "
                "so the data scope cannot be checked",
                "permit",
                grant.shadow,
            )
        elif not self.holds(agent.scope, rule, "permit", grant.shadow):
            self.refuse(
                rule,
                f"the {tool.resource} is outside the agent's data scope ({agent.scope.source})",
                "permit",
                grant.shadow,
            )
        else:
            self.rules.append(rule)

    # --- check inputs -----------------------------------------------------------

    def validate_args(self, tool: Tool) -> None:
        try:
            self.args = tool.validate_args(self.call.args)
        except ToolArgumentsError as exc:
            self.refuse(f"{tool.name}.schema", exc.message, "inputs", model_detail=exc.message)

    def check_inputs(self, grant: Grant, tool: Tool) -> tuple[LimitClaim, ...]:
        if grant.when is not None:
            rule = f"{grant.rule}.when"
            if self.holds(grant.when, rule, "inputs", grant.shadow):
                self.rules.append(rule)
            else:
                self.refuse(
                    rule,
                    f"condition not met: {grant.when.source}{self.provenance_notes()}",
                    "inputs",
                    grant.shadow,
                )
        self.check_untrusted(grant, tool)
        return tuple(claim for limit in grant.limits if (claim := self.claim(limit, grant)))

    def provenance_notes(self) -> str:
        """Why values the conditions asked about were not vouched for, if any."""
        if self._view is None or not self._view.notes:
            return ""
        return " (" + "; ".join(dict.fromkeys(self._view.notes)) + ")"

    def check_untrusted(self, grant: Grant, tool: Tool) -> None:
        if not self.call.run.untrusted or self.effect is None:
            return
        default = self.policy.untrusted_default
        if grant.untrusted is not None:
            rule, decision = f"{grant.rule}.untrusted", grant.untrusted
        elif self.effect in default.effects:
            rule, decision = "defaults.untrusted", default.decision
        else:
            return
        if decision == "allow":
            return
        why = "the run has read untrusted content"
        if default.unless_vouched:
            unvouched = self.unvouched_targets(tool)
            if not unvouched:
                self.reasons.append(f"{why}; every value that steers {tool.name} is vouched for")
                return
            why = f"{why}, and {'; '.join(unvouched)}"
        if decision == "deny":
            self.refuse(rule, why, "untrusted", grant.shadow)
        else:
            self.untrusted_rule = rule
            self.untrusted_reason = why

    def unvouched_targets(self, tool: Tool) -> list[str]:
        """Why each argument that steers the call is not vouched for (fail closed: a
        value whose provenance cannot be determined is not)."""
        args = self.args if self.args is not None else dict(self.call.args)
        problems = []
        for name in tool.target_args:
            value = args.get(name)
            if value is None or value in ("", []):
                continue  # an argument left out steers nothing
            verdict = self.view.verdict(value)
            if not verdict.vouched:
                problems.append(f"args.{name}: {verdict.note}")
        return problems

    def claim(self, limit: Limit, grant: Grant) -> LimitClaim | None:
        call = self.call
        owner = {
            "run": f"run:{call.run.id}",
            "agent": f"agent:{call.agent}",
            "principal": f"principal:{call.principal.id}",
        }[limit.per]
        amount = 1.0
        if limit.sum is not None:
            value = self.evaluate(limit.sum, limit.rule, "inputs", grant.shadow or limit.shadow)
            if not isinstance(value, int | float) or isinstance(value, bool):
                self.refuse(
                    limit.rule,
                    f"limit sum {limit.sum.source!r} is {value!r}, not a number",
                    "inputs",
                    grant.shadow or limit.shadow,
                )
                return None
            amount = float(value)
        return LimitClaim(limit=limit, key=f"{owner}|{limit.rule}", amount=amount)

    # --- decide -----------------------------------------------------------------

    def decide(self, grant: Grant | None) -> Decision:
        requirement = self.approval_requirement(grant) if grant else None
        if requirement is None and self.untrusted_rule is not None:
            default = self.policy.default_approval
            requirement = self.requirement(default, self.untrusted_rule, self.untrusted_reason)
        if requirement is not None:
            if self.shadowing(grant.shadow if grant else False):
                self.shadow.append(Finding(rule=requirement.rule, message=requirement.reason))
            else:
                self.rules.append(requirement.rule)
                self.reasons.append(requirement.reason)
                return NeedsApproval(approval=requirement, **self.common())
        return Allow(**self.common())

    def approval_requirement(self, grant: Grant) -> ApprovalRequirement | None:
        approval = grant.approval
        if approval == "never":
            return None
        if approval is None:
            if self.effect is None or self.effect not in self.policy.default_approval_effects:
                return None
            return self.requirement(
                self.policy.default_approval,
                "defaults.approval",
                f"{self.effect.value} actions need approval by default",
            )
        if approval.when is None:
            return self.requirement(approval, approval.rule, "this action always needs approval")
        if self.holds(approval.when, approval.rule, "inputs", grant.shadow, fail=True):
            return self.requirement(
                approval,
                approval.rule,
                f"approval required when {approval.when.source}{self.provenance_notes()}",
            )
        return None

    def requirement(self, approval: Approval, rule: str, reason: str) -> ApprovalRequirement:
        return ApprovalRequirement(
            rule=rule,
            reason=reason,
            approvers=approval.approvers,
            quorum=approval.quorum,
            expires_after=approval.expires_after,
            escalate_after=approval.escalate_after,
            escalate_to=approval.escalate_to,
            assurance=approval.assurance,
        )

    # --- helpers ----------------------------------------------------------------

    def common(self) -> dict[str, Any]:
        return {
            "rules": tuple(dict.fromkeys(self.rules)),
            "reasons": tuple(self.reasons),
            "policy_version": self.policy.version,
            "effect": self.effect,
            "shadow": tuple(self.shadow),
        }

    def shadowing(self, rule_shadow: bool = False) -> bool:
        agent = self.policy.agents.get(self.call.agent)
        return self.policy.shadow or rule_shadow or bool(agent and agent.shadow)

    def refuse(
        self,
        rule: str,
        message: str,
        stage: str,
        rule_shadow: bool = False,
        *,
        model_detail: str | None = None,
    ) -> None:
        """Deny the call, unless the rule is in shadow mode: then note it and go on."""
        if self.shadowing(rule_shadow):
            self.shadow.append(Finding(rule=rule, message=message))
            return
        common = self.common()
        model_message = _SAFE_DENIALS[stage]
        if model_detail:
            model_message = f"{model_message} {model_detail}"
        raise _Refused(
            Deny(
                **{**common, "rules": (rule,), "reasons": (message,)},
                model_message=model_message,
            )
        )

    def evaluate(
        self, condition: Condition, rule: str, stage: str, rule_shadow: bool = False
    ) -> Any:
        try:
            return condition.evaluate(self.activation)
        except ConditionError as exc:
            self.refuse(
                rule,
                f"condition {condition.source!r} could not be evaluated: {exc}",
                stage,
                rule_shadow,
            )
            return None

    def holds(
        self,
        condition: Condition,
        rule: str,
        stage: str,
        rule_shadow: bool = False,
        *,
        fail: bool = False,
    ) -> bool:
        """Whether the condition holds; an evaluation error refuses the call (fails closed).

        ``fail`` is the answer to give when the error is only shadowed: for an approval
        condition, an unreadable condition means "ask a person".
        """
        try:
            return condition.holds(self.activation)
        except ConditionError as exc:
            self.refuse(
                rule,
                f"condition {condition.source!r} could not be evaluated: {exc}",
                stage,
                rule_shadow,
            )
            return fail
