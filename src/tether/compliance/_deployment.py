"""What the configuration and the policy set up: every figure of the compliance report
that comes from ``tether.yaml`` and the policy is read here."""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from dataclasses import dataclass, field

from tether.audit import DEFAULT_RETENTION, otlp_configured
from tether.config import Config
from tether.policy import Approval, Policy
from tether.tools import Effect, Tool

_CODE_TOOL = re.compile(r"(^|[._])(exec|execute|shell|bash|eval|python|script|command|run_code)")


@dataclass(frozen=True, kw_only=True)
class GrantFact:
    """One tool an agent may call, as its grant treats it."""

    agent: str
    rule: str
    tool: str
    effect: Effect
    approval: bool
    """A person confirms (always or under a condition)."""
    conditioned: bool
    """The grant has a ``when`` condition or limits."""
    untrusted: str
    """What happens once the run is untrusted: allow, needs_approval or deny."""
    shadow: bool
    read_back: bool


@dataclass(frozen=True, kw_only=True)
class ApprovalRuleFact:
    rule: str
    approvers: tuple[str, ...]
    quorum: int
    eligible: tuple[str, ...]
    """The users who hold the approvers' roles."""


@dataclass
class DeploymentFacts:
    config: str
    policy_source: str
    policy_version: str
    policy_shadow: bool
    agents: list[str]
    acting_for_anyone: list[str]
    connectors: list[str]
    tools_by_effect: Counter[str]
    grants: list[GrantFact]
    approval_rules: list[ApprovalRuleFact]
    default_approval_effects: list[str]
    untrusted_default: str
    untrusted_effects: list[str]
    untrusted_output_tools: list[str]
    limit_rules: frozenset[str]
    redacted_fields: list[str]
    unclassified_granted: list[str]
    code_tools_granted: list[str]
    console_roles: dict[str, list[str]]
    retention: _dt.timedelta
    telemetry: bool
    users: int = 0
    tools_total: int = field(default=0)

    @property
    def consequential(self) -> list[GrantFact]:
        return [grant for grant in self.grants if grant.effect is not Effect.READ]

    def console_holders(self, role: str) -> list[str]:
        return sorted(user for user, roles in self.console_roles.items() if role in roles)


def read_deployment(config: Config) -> DeploymentFacts:
    policy = config.policy
    grants = _grants(policy)
    granted = {grant.tool for grant in grants}
    return DeploymentFacts(
        config=str(config.path),
        policy_source=policy.source,
        policy_version=policy.version,
        policy_shadow=policy.shadow,
        agents=sorted(policy.agents),
        acting_for_anyone=sorted(a.name for a in policy.agents.values() if a.acts_for_anyone),
        connectors=[connector.type for connector in config.spec.connectors],
        tools_by_effect=Counter(str(tool.effect) for tool in policy.tools),
        grants=grants,
        approval_rules=_approval_rules(policy),
        default_approval_effects=sorted(str(e) for e in policy.default_approval_effects),
        untrusted_default=policy.untrusted_default.decision,
        untrusted_effects=sorted(str(e) for e in policy.untrusted_default.effects),
        untrusted_output_tools=sorted(t.name for t in policy.tools if t.untrusted_output),
        limit_rules=frozenset(
            limit.rule
            for agent in policy.agents.values()
            for grant in agent.grants
            for limit in grant.limits
        ),
        redacted_fields=sorted(policy.redacted_fields),
        unclassified_granted=sorted(
            t.name for t in policy.tools if t.effect_from_policy and t.name in granted
        ),
        code_tools_granted=sorted(name for name in granted if _CODE_TOOL.search(name)),
        console_roles={name: list(user.roles) for name, user in config.spec.web.users.items()},
        retention=DEFAULT_RETENTION,
        telemetry=(
            otlp_configured() if config.spec.telemetry.otlp is None else config.spec.telemetry.otlp
        ),
        users=len(policy.spec.users),
        tools_total=len(policy.tools),
    )


def _grants(policy: Policy) -> list[GrantFact]:
    found = []
    for agent in policy.agents.values():
        for tool in policy.tools:
            grant = agent.grant_for(tool.name)
            if grant is None:
                continue
            effect = tool.effect_under(grant.effect)
            approval = isinstance(grant.approval, Approval) or (
                grant.approval is None and effect in policy.default_approval_effects
            )
            found.append(
                GrantFact(
                    agent=agent.name,
                    rule=grant.rule,
                    tool=tool.name,
                    effect=effect,
                    approval=approval,
                    conditioned=grant.when is not None or bool(grant.limits),
                    untrusted=_untrusted(policy, grant.untrusted, effect),
                    shadow=grant.shadow or agent.shadow or policy.shadow,
                    read_back=_reads_back(tool),
                )
            )
    return found


def _untrusted(policy: Policy, own: str | None, effect: Effect) -> str:
    if own is not None:
        return own
    default = policy.untrusted_default
    return default.decision if effect in default.effects else "allow"


def _reads_back(tool: Tool) -> bool:
    return tool.read_back is not None


def _approval_rules(policy: Policy) -> list[ApprovalRuleFact]:
    rules: dict[str, ApprovalRuleFact] = {}
    candidates = [policy.default_approval] + [
        grant.approval
        for agent in policy.agents.values()
        for grant in agent.grants
        if isinstance(grant.approval, Approval)
    ]
    for approval in candidates:
        if isinstance(approval, Approval):
            rules[approval.rule] = ApprovalRuleFact(
                rule=approval.rule,
                approvers=approval.approvers,
                quorum=approval.quorum,
                eligible=tuple(sorted(policy.users_holding(approval.approvers))),
            )
    return list(rules.values())
