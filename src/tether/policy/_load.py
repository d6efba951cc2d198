"""Load a policy file: YAML, then the schema, then every cross-check, with line numbers."""

from __future__ import annotations

import hashlib
import importlib
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tether.errors import PolicyError, PolicyIssue
from tether.policy._cel import Condition, ConditionError, compile_condition, merge_projections
from tether.policy._checks import check_conditions
from tether.policy._classify import Classifier
from tether.policy._policy import (
    AgentPolicy,
    Approval,
    Grant,
    Limit,
    PatternMatcher,
    Permission,
    Policy,
    UntrustedDefault,
)
from tether.policy._schema_problems import allowed_keys
from tether.policy._spec import (
    AgentSpec,
    ApprovalSpec,
    GrantSpec,
    PermissionSpec,
    PolicySpec,
    VouchSpec,
)
from tether.policy._yaml import Path_, YamlProblem, line_of, load_with_lines
from tether.provenance import Undetermined, Vouching, domain_key, identifiers_of
from tether.tools import Toolset

PRINCIPAL = "principal"
"""An approver reference: the person the agent acts for, confirming their own call."""


def load_policy(
    source: str | Path, *, tools: Toolset | None = None, extra_tools: Toolset | None = None
) -> Policy:
    """Load and check a policy file; :class:`PolicyError` lists every problem with its line.

    ``tools`` is the catalogue grants are checked against; without it, the toolsets
    the policy names under ``toolsets`` are imported, plus ``extra_tools`` (the tools
    of the connectors a ``tether.yaml`` configures).
    """
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        issue = PolicyIssue(file=str(path), line=None, message=f"cannot read: {exc.strerror}")
        raise PolicyError([issue]) from None
    return load_policy_text(text, file=str(path), tools=tools, extra_tools=extra_tools)


def load_policy_text(
    text: str,
    *,
    file: str = "<policy>",
    tools: Toolset | None = None,
    extra_tools: Toolset | None = None,
) -> Policy:
    """Like :func:`load_policy`, from the file's text."""
    return _Loader(file, text, tools, extra_tools).load()


class _Loader:
    def __init__(
        self, file: str, text: str, tools: Toolset | None, extra_tools: Toolset | None = None
    ) -> None:
        self.file = file
        self.text = text
        self.tools = tools
        self.extra_tools = extra_tools or Toolset()
        self.issues: list[PolicyIssue] = []
        self.warnings: list[PolicyIssue] = []
        self.lines: dict[Path_, int] = {}
        self.conditions: list[Condition] = []

    def problem(self, path: Path_, message: str) -> None:
        self.issues.append(
            PolicyIssue(file=self.file, line=line_of(self.lines, path), message=message)
        )

    def fail_if_any(self) -> None:
        if self.issues:
            raise PolicyError(sorted(self.issues, key=lambda issue: issue.line or 0))

    def load(self) -> Policy:
        spec = self._parse()
        toolset = self._toolset(spec)
        classifier = Classifier(self, toolset)
        toolset = classifier.apply(spec)
        self._check_references(spec)
        policy = self._compile(spec, toolset)
        policy.classified = classifier.classified
        check_conditions(self, policy)
        self.fail_if_any()
        policy.warnings = sorted(self.warnings, key=lambda issue: issue.line or 0)
        return policy

    def warn(self, path: Path_, message: str) -> None:
        self.warnings.append(
            PolicyIssue(file=self.file, line=line_of(self.lines, path), message=message)
        )

    # --- reading and the schema -------------------------------------------------

    def _parse(self) -> PolicySpec:
        try:
            data, self.lines = load_with_lines(self.text)
        except YamlProblem as exc:
            self.issues.append(PolicyIssue(file=self.file, line=exc.line, message=exc.message))
            self.fail_if_any()
        if not isinstance(data, dict):
            self.problem((), "a policy is a mapping that starts with `version: 1`")
            self.fail_if_any()
        try:
            return PolicySpec.model_validate(data)
        except ValidationError as exc:
            self._schema_issues(exc, data)
            self.fail_if_any()
            raise  # unreachable: fail_if_any raised

    def _schema_issues(self, exc: ValidationError, data: Any) -> None:
        found: dict[Path_, list[str]] = {}
        for error in exc.errors():
            names_key = error["type"] in ("missing", "extra_forbidden")
            path = _data_path(error["loc"], data, names_key=names_key)
            if error["type"] == "extra_forbidden":
                key = path[-1]
                allowed = ", ".join(allowed_keys(PolicySpec, path[:-1]))
                message = f"unknown key {key!r}; allowed here: {allowed}"
            elif error["type"] == "missing":
                message = f"missing required key {path[-1]!r}"
            else:
                where = ".".join(str(part) for part in path) or "policy"
                message = f"{where}: {error['msg'].removeprefix('Value error, ')}"
            found.setdefault(path, []).append(message)
        # A value that fails every branch of a union reports once per branch;
        # keep the deepest complaints, which say what is actually wrong.
        for path, messages in found.items():
            if any(other[: len(path)] == path and other != path for other in found):
                continue
            for message in dict.fromkeys(messages):
                self.problem(path, message)

    # --- tools ---------------------------------------------------------------------

    def _toolset(self, spec: PolicySpec) -> Toolset:
        if self.tools is not None:
            return self.tools
        combined = Toolset(self.extra_tools)
        for index, ref in enumerate(spec.toolsets):
            loaded = self._import_toolset(ref, ("toolsets", index))
            for item in loaded or ():
                if item.name in combined:
                    self.problem(("toolsets", index), f"tool {item.name!r} is provided twice")
                else:
                    combined.add(item)
        granted = any(agent.tools for agent in spec.agents.values())
        if granted and not spec.toolsets and not self.extra_tools:
            self.problem(
                ("agents",),
                "the policy grants tools but names no toolsets to check them against; "
                "add `toolsets: [package.module:attribute]`",
            )
        return combined

    def _import_toolset(self, ref: str, path: Path_) -> Toolset | None:
        module_name, _, attribute = ref.partition(":")
        if not module_name or not attribute:
            self.problem(path, f"toolset {ref!r} must be written package.module:attribute")
            return None
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            self.problem(path, f"cannot load toolset {ref!r}: {exc}")
            return None
        if callable(value) and not isinstance(value, Toolset):
            value = value()
        if not isinstance(value, Toolset):
            self.problem(path, f"{ref!r} is a {type(value).__name__}, not a tether Toolset")
            return None
        return value

    def _check_tool_pattern(self, pattern: str, toolset: Toolset, path: Path_) -> None:
        if "*" in pattern and pattern.strip("*") == "":
            return
        if toolset and not any(
            PatternMatcher.of(pattern).matches(name) for name in toolset.names()
        ):
            self.problem(
                path,
                f"no known tool matches {pattern!r}; known tools: {', '.join(toolset.names())}",
            )

    # --- references between sections --------------------------------------------

    def _check_references(self, spec: PolicySpec) -> None:
        for user_id, user in spec.users.items():
            for index, role in enumerate(user.roles):
                if role not in spec.roles:
                    self.problem(
                        ("users", user_id, "roles", index), _unknown("role", role, spec.roles)
                    )
        for name, agent in spec.agents.items():
            for index, ref in enumerate(agent.may_act_for):
                self._check_principal_ref(spec, ref, ("agents", name, "may_act_for", index))

    def _check_principal_ref(self, spec: PolicySpec, ref: str, path: Path_) -> None:
        kind, _, name = ref.partition(":")
        if kind == "role" and name not in spec.roles:
            self.problem(path, _unknown("role", name, spec.roles))
        elif kind == "user" and name not in spec.users:
            self.problem(path, _unknown("user", name, spec.users))

    # --- compiling ----------------------------------------------------------------

    def _compile(self, spec: PolicySpec, toolset: Toolset) -> Policy:
        version = "sha256:" + hashlib.sha256(self.text.encode()).hexdigest()[:16]
        defaults = spec.defaults.approval
        default_approval = Approval(
            rule="defaults.approval",
            when=None,
            approvers=tuple(defaults.approvers),
            quorum=defaults.quorum,
            expires_after=defaults.expires,
            assurance=defaults.assurance,
        )
        policy = Policy(
            version=version,
            source=self.file,
            text=self.text,
            spec=spec,
            tools=toolset,
            agents={},
            permissions={},
            default_approval=default_approval,
            default_approval_effects=frozenset(defaults.effects),
            untrusted_default=UntrustedDefault(
                effects=frozenset(spec.defaults.untrusted.effects),
                decision=spec.defaults.untrusted.decision,
                unless_vouched=spec.defaults.untrusted.unless_vouched,
            ),
            shadow=spec.mode == "shadow",
        )
        for role, role_spec in spec.roles.items():
            policy.permissions[role] = tuple(
                self._permission(role, item, index, toolset)
                for index, item in enumerate(role_spec.may)
            )
        rule_ids: dict[str, Path_] = {}
        for name, agent in spec.agents.items():
            policy.agents[name] = self._agent(policy, name, agent, rule_ids)
        policy.projection = merge_projections([c.paths for c in self.conditions])
        policy.warnings = self.warnings
        return policy

    def _permission(
        self, role: str, item: str | PermissionSpec, index: int, toolset: Toolset
    ) -> Permission:
        path: Path_ = ("roles", role, "may", index)
        spec = item if isinstance(item, PermissionSpec) else PermissionSpec(tool=item)
        pattern_path = (*path, "tool") if isinstance(item, PermissionSpec) else path
        self._check_tool_pattern(spec.tool, toolset, pattern_path)
        return Permission(
            rule=f"role:{role}",
            matcher=PatternMatcher.of(spec.tool),
            when=self._condition(spec.when, (*path, "when")),
        )

    def _agent(
        self, policy: Policy, name: str, spec: AgentSpec, rule_ids: dict[str, Path_]
    ) -> AgentPolicy:
        refs = [ref.partition(":") for ref in spec.may_act_for]
        grants = []
        for index, grant_spec in enumerate(spec.tools):
            path: Path_ = ("agents", name, "tools", index)
            rule = grant_spec.id or f"{name}:{grant_spec.tool}"
            if rule in rule_ids:
                self.problem(
                    path,
                    f"rule id {rule!r} is used twice "
                    f"(also line {line_of(self.lines, rule_ids[rule])}); give one of them an `id:`",
                )
            rule_ids[rule] = path
            grants.append(self._grant(policy, rule, grant_spec, path))
            if spec.scope is not None:
                self._check_scope_reaches(policy, name, grant_spec, path)
        self._check_approvals_possible(policy, spec, grants, ("agents", name, "tools"))
        vouching = self._vouching(policy.spec.vouch, ("vouch",)) | self._vouching(
            spec.vouch, ("agents", name, "vouch")
        )
        return AgentPolicy(
            name=name,
            acts_for_roles=frozenset(n for kind, _, n in refs if kind == "role"),
            acts_for_users=frozenset(n for kind, _, n in refs if kind == "user"),
            acts_for_anyone="*" in spec.may_act_for,
            scope=self._condition(spec.scope, ("agents", name, "scope")),
            grants=tuple(grants),
            shadow=spec.shadow,
            vouching=vouching,
            vouch_task=spec.vouch.task,
        )

    def _check_scope_reaches(
        self, policy: Policy, agent: str, spec: GrantSpec, path: Path_
    ) -> None:
        """Warn where a scoped agent's grant names tools the scope cannot be checked on
        (they will be refused), or turns the scope off for tools that target records."""
        matcher = PatternMatcher.of(spec.tool)
        tools = [tool for tool in policy.tools if matcher.matches(tool.name)]
        if spec.unscoped is not None:
            targeted = [tool.name for tool in tools if tool.resource is not None]
            if targeted:
                self.warn(
                    (*path, "unscoped"),
                    f"`unscoped` turns agent {agent}'s data scope off for "
                    f"{', '.join(targeted)}, which target{'s' if len(targeted) == 1 else ''} "
                    "records; make sure the scope does not apply to them",
                )
            return
        blind = [tool.name for tool in tools if tool.resource is None or tool.locate is None]
        if blind:
            self.warn(
                (*path, "tool"),
                f"agent {agent} has a data scope, but {', '.join(blind)} cannot locate "
                "its target (no `resource` and `locate`), so every call is refused; give "
                "the tool a resource, or say in this grant `unscoped: WHY` where the scope "
                "does not apply",
            )

    def _vouching(self, spec: VouchSpec, path: Path_) -> Vouching:
        values = []
        for index, value in enumerate(spec.values):
            try:
                identifiers_of(value)
            except Undetermined as exc:
                self.problem((*path, "values", index), f"{value!r} cannot be vouched for: {exc}")
                continue
            values.append(value)
        for index, domain in enumerate(spec.domains):
            if domain_key(domain) is None:
                self.problem(
                    (*path, "domains", index),
                    f"{domain!r} is not a domain; write e.g. acme.example or *.acme.example",
                )
        return Vouching.of(values, [d for d in spec.domains if domain_key(d) is not None])

    def _grant(self, policy: Policy, rule: str, spec: GrantSpec, path: Path_) -> Grant:
        self._check_tool_pattern(spec.tool, policy.tools, (*path, "tool"))
        limits = tuple(
            Limit(
                rule=limit.id or f"{rule}.limits[{index}]",
                per=limit.per,
                window=limit.window,
                count=limit.count,
                sum=self._condition(limit.sum, (*path, "limits", index, "sum")),
                max=None if isinstance(limit.max, str) else limit.max,
                max_of=(
                    self._condition(limit.max, (*path, "limits", index, "max"))
                    if isinstance(limit.max, str)
                    else None
                ),
                key=self._condition(limit.key, (*path, "limits", index, "key")),
                reserve=limit.reserve,
                shadow=limit.shadow,
            )
            for index, limit in enumerate(spec.limits)
        )
        approval: Approval | typing.Literal["never"] | None
        if isinstance(spec.approval, ApprovalSpec):
            approval = self._approval(policy, rule, spec.approval, (*path, "approval"))
        else:
            approval = spec.approval
        return Grant(
            rule=rule,
            matcher=PatternMatcher.of(spec.tool),
            effect=spec.effect,
            when=self._condition(spec.when, (*path, "when")),
            approval=approval,
            limits=limits,
            untrusted=spec.untrusted,
            shadow=spec.shadow,
            unscoped=spec.unscoped,
        )

    def _approval(self, policy: Policy, rule: str, spec: ApprovalSpec, path: Path_) -> Approval:
        default = policy.default_approval
        approvers = tuple(spec.approvers) if spec.approvers is not None else default.approvers
        for index, ref in enumerate(spec.approvers or ()):
            if ref != PRINCIPAL:
                self._check_principal_ref(policy.spec, ref, (*path, "approvers", index))
        escalation = spec.escalate
        return Approval(
            rule=f"{rule}.approval",
            when=self._condition(spec.when, (*path, "when")),
            approvers=approvers,
            quorum=spec.quorum if spec.quorum is not None else default.quorum,
            expires_after=spec.expires if spec.expires is not None else default.expires_after,
            escalate_after=escalation.after if escalation else None,
            escalate_to=tuple(escalation.to) if escalation else (),
            assurance=spec.assurance or default.assurance,
        )

    def _check_approvals_possible(
        self, policy: Policy, agent: AgentSpec, grants: list[Grant], path: Path_
    ) -> None:
        refs = tuple(ref for ref in agent.may_act_for if ref != "*")
        requesters = (
            policy.users_holding(refs) if "*" not in agent.may_act_for else set(policy.spec.users)
        )
        for index, grant in enumerate(grants):
            approval = grant.approval
            where = (*path, index, "approval")
            if approval is None and self._may_need_default_approval(policy, grant):
                approval = policy.default_approval
                where = ("defaults", "approval")
            if not isinstance(approval, Approval):
                continue
            if not approval.approvers:
                self.problem(
                    where,
                    f"{grant.rule} may need approval but no approvers are named; "
                    "set `approvers:` on the grant or under `defaults.approval`",
                )
                continue
            eligible = policy.users_holding(approval.approvers)
            # Nobody approves their own request: the requester's vote does not count,
            # unless the rule lets the principal confirm (then they are one more).
            confirms = PRINCIPAL in approval.approvers
            needed = approval.quorum + (1 if requesters & eligible and not confirms else 0)
            if needed > len(eligible) + confirms:
                self.problem(
                    (*where, "quorum"),
                    f"quorum {approval.quorum} for {grant.rule} is impossible: "
                    f"{len(eligible)} user(s) hold {', '.join(approval.approvers)}"
                    + (
                        ", and a requester may not approve their own request"
                        if needed > approval.quorum
                        else ""
                    ),
                )

    def _may_need_default_approval(self, policy: Policy, grant: Grant) -> bool:
        effects = {
            t.effect_under(grant.effect) for t in policy.tools if grant.matcher.matches(t.name)
        }
        if grant.effect is not None:
            effects.add(grant.effect)
        return not effects.isdisjoint(policy.default_approval_effects)

    def _condition(self, source: str | None, path: Path_) -> Condition | None:
        if source is None:
            return None
        try:
            condition = compile_condition(source)
        except ConditionError as exc:
            self.problem(path, f"condition {source!r} {exc}")
            return None
        self.conditions.append(condition)
        return condition


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    names = ", ".join(sorted(known)) or "(none defined)"
    return f"unknown {kind} {name!r}; defined {kind}s: {names}"


def _data_path(loc: tuple[int | str, ...], data: Any, *, names_key: bool) -> Path_:
    """The part of a Pydantic error location that names real keys (drops union tags).

    ``names_key``: the error is about a key itself (missing or extra), so the last
    part of the location is kept even though the data does not have it.
    """
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if _has(current, part):
            current = current[part]
            path.append(part)
        elif names_key and index == len(loc) - 1 and isinstance(current, dict):
            path.append(part)
    return tuple(path)


def _has(container: Any, part: int | str) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)
