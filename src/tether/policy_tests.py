"""Policy unit tests: calls and their expected decisions, in YAML beside the policy.

They run the gate's decision on a policy, so they sit above both.

```yaml
policy: policy.yaml            # relative to this file
tests:
  - name: support reads a customer of their own team
    agent: support-desk
    principal: alice
    tool: crm.read_party
    args: {party_id: 1}
    resource: {team: emea}
    expect: allow
    rules: [read-customer]       # optional: ids that must be among the decision's rules
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.calls import PastCall, Principal, ProposedCall, RunState
from tether.errors import PolicyError, PolicyIssue
from tether.gate import Decision, evaluate
from tether.policy import Policy, YamlProblem, line_of, load_policy, load_with_lines
from tether.provenance import Undetermined, identifiers_of, merged

TEST_FILE_GLOB = "*_test.yaml"


class PastCallSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool: str
    effect: str = ""
    status: Literal["done", "failed", "started", "held"] = "done"
    args: dict[str, Any] = {}
    recipients: list[str] = []


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = "policy-test"
    untrusted: bool = False
    known_contacts: list[str] = []
    vouched: dict[str, list[str]] = {}
    """Per source (``task``, ``start``, ``approval``, ``tool:NAME``), the values it vouched for."""
    seen: dict[str, list[str]] = {}
    """Per tool, the values seen in its untrusted output."""
    calls: list[PastCallSpec] | None = None
    """What the run did before (for sequence conditions)."""

    def provenance(self) -> dict[str, tuple[str, ...]]:
        learned = [
            (identifier, source)
            for source, values in self.vouched.items()
            for value in values
            for identifier in identifiers_of(value)
        ] + [
            (identifier, f"untrusted:{tool}")
            for tool, values in self.seen.items()
            for value in values
            for identifier in identifiers_of(value)
        ]
        return {key: tuple(sources) for key, sources in merged({}, learned).items()}


class CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    agent: str
    principal: str
    tool: str
    args: dict[str, Any] = {}
    resource: dict[str, Any] | None = None
    run: RunSpec = RunSpec()
    expect: Literal["allow", "deny", "needs_approval"]
    rules: list[str] = []


class TestFileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str
    tests: list[CaseSpec] = Field(min_length=1)


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    file: str
    line: int | None
    name: str
    expected: str
    decision: Decision | None
    problem: str | None
    """Why the case failed; None when it passed."""

    @property
    def passed(self) -> bool:
        return self.problem is None


def build_call(
    policy: Policy,
    *,
    agent: str,
    principal: str | Principal,
    tool: str,
    args: Mapping[str, Any],
    resource: Mapping[str, Any] | None = None,
    run: RunState | None = None,
) -> ProposedCall:
    """A call as the gate would see it, for a principal the policy's ``users`` define."""
    if isinstance(principal, str):
        found = policy.principal(principal)
        if found is None:
            known = ", ".join(sorted(policy.spec.users)) or "(none)"
            raise KeyError(f"unknown principal {principal!r}; the policy defines: {known}")
        principal = found
    return ProposedCall(
        tool=tool,
        args=dict(args),
        agent=agent,
        principal=principal,
        run=run or RunState(id="explain"),
        call_id="explain",
        resource=resource,
    )


def find_test_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.rglob(TEST_FILE_GLOB))


def run_test_file(path: Path) -> list[CaseResult]:
    """Run every case of one test file; a broken file raises :class:`PolicyError`."""
    file = str(path)
    try:
        data, lines = load_with_lines(path.read_text(encoding="utf-8"))
        spec = TestFileSpec.model_validate(data)
    except YamlProblem as exc:
        raise PolicyError([PolicyIssue(file=file, line=exc.line, message=exc.message)]) from None
    except ValidationError as exc:
        issues = [
            PolicyIssue(
                file=file,
                line=line_of(lines, tuple(error["loc"])),
                message=f"{'.'.join(map(str, error['loc']))}: {error['msg']}",
            )
            for error in exc.errors()
        ]
        raise PolicyError(issues) from None
    policy = load_policy(path.parent / spec.policy)
    return [
        _run_case(policy, case, file, line_of(lines, ("tests", index)))
        for index, case in enumerate(spec.tests)
    ]


def _run_case(policy: Policy, case: CaseSpec, file: str, line: int | None) -> CaseResult:
    def result(decision: Decision | None, problem: str | None) -> CaseResult:
        return CaseResult(
            file=file,
            line=line,
            name=case.name,
            expected=case.expect,
            decision=decision,
            problem=problem,
        )

    try:
        provenance = case.run.provenance()
    except Undetermined as exc:
        return result(None, f"run.vouched/run.seen: {exc}")
    run = RunState(
        id=case.run.id,
        untrusted=case.run.untrusted or bool(case.run.seen),
        known_contacts=frozenset(case.run.known_contacts),
        provenance=provenance,
        calls=None
        if case.run.calls is None
        else tuple(
            PastCall(**{**past.model_dump(), "recipients": tuple(past.recipients)})
            for past in case.run.calls
        ),
    )
    try:
        call = build_call(
            policy,
            agent=case.agent,
            principal=case.principal,
            tool=case.tool,
            args=case.args,
            resource=case.resource,
            run=run,
        )
    except KeyError as exc:
        return result(None, str(exc.args[0]))
    decision = evaluate(policy, call).decision
    if decision.kind != case.expect:
        why = "; ".join(decision.reasons)
        return result(decision, f"expected {case.expect}, got {decision.kind} ({why})")
    missing = [rule for rule in case.rules if rule not in decision.rules]
    if missing:
        return result(
            decision,
            f"decided {decision.kind} but not by {', '.join(missing)} "
            f"(rules: {', '.join(decision.rules)})",
        )
    return result(decision, None)
