"""The policy file's format, as strict Pydantic models (unknown keys are errors).

The JSON Schema shipped in ``policy.schema.json`` is generated from these models;
a test keeps the two identical.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import textwrap
import typing
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tether.tools import Effect

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``7d``, ``2w`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        amount, unit = match.groups()
        if int(amount) > 0:
            return timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
    raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 15m, 24h, 7d or 2w")


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    Field(json_schema_extra={"type": "string", "pattern": _DURATION.pattern}),
]
Cel = Annotated[str, Field(min_length=1, description="A CEL expression")]
PrincipalRef = Annotated[
    str,
    Field(pattern=r"^(role:|user:)[A-Za-z0-9_.@-]+$|^\*$", description="role:NAME, user:ID or *"),
]
ApproverRef = Annotated[
    str,
    Field(
        pattern=r"^(role:|user:)[A-Za-z0-9_.@-]+$|^\*$|^principal$",
        description="role:NAME, user:ID, * or principal (the person the agent acts for)",
    ),
]
ToolPattern = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_.*-]+$", description="A tool name; * matches any characters"),
]
UntrustedDecision = Literal["allow", "needs_approval", "deny"]
Assurance = Literal["local", "authenticated"]


class _Spec(BaseModel):
    # The docstrings under fields describe them in the JSON Schema, which
    # policy_json_schema adds them to: Pydantic's use_attribute_docstrings would read
    # this file's source as each model is made, a sixth of what loading a policy costs.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PermissionSpec(_Spec):
    """A tool a role's members may use themselves, optionally under a condition."""

    tool: ToolPattern
    when: Cel | None = None


class RoleSpec(_Spec):
    description: str | None = None
    may: list[ToolPattern | PermissionSpec] = []
    """What holders of this role may do themselves. An agent acting for them never does more."""


class UserSpec(_Spec):
    roles: list[str] = []
    attributes: dict[str, Any] = {}
    """Free-form attributes (team, region) that conditions read as ``principal.attributes``."""


class EscalationSpec(_Spec):
    after: Duration
    to: list[PrincipalRef] = Field(min_length=1)


class ApprovalSpec(_Spec):
    """A person must confirm the call before it runs."""

    when: Cel | None = None
    """Only when this holds; always when absent."""
    approvers: list[ApproverRef] | None = None
    """Who may decide; the policy's default approvers when absent. ``principal`` lets
    the person the agent acts for confirm their own assistant's call."""
    quorum: int | None = Field(default=None, ge=1)
    expires: Duration | None = None
    escalate: EscalationSpec | None = None
    assurance: Assurance | None = None
    """``authenticated``: only approvers who logged in (password, API token, single
    sign-on) may decide; a decision made directly on the database (``local``) is
    refused. The policy default when absent."""


class BreakGlassSpec(_Spec):
    """The emergency path: holders of these roles may approve any pending request on
    their own, with a written reason, after a login; recorded and notified loudly."""

    approvers: list[PrincipalRef] = Field(min_length=1)
    notify: list[PrincipalRef] = []
    """Who else is told at once (the request's own approvers always are)."""
    min_reason_chars: int = Field(default=20, ge=1)
    """The written reason must be at least this long."""


class LimitSpec(_Spec):
    """A budget: a count of calls, or a sum of an argument, per run, agent, principal
    or targeted record, optionally per value of an expression (``key``)."""

    id: str | None = None
    per: Literal["run", "agent", "principal", "resource"]
    """Whose counter: the run's, the agent's, the principal's, or the targeted record's
    (the tool's ``resource``, by its ``id``: "per invoice")."""
    key: Cel | None = None
    """A CEL expression whose value splits the counter (``args.invoice_id``): the limit
    holds for each value apart."""
    window: Duration | None = None
    """Rolling window; required for ``agent`` and ``principal``, not allowed for ``run``,
    optional for ``resource`` (without it, for as long as tether keeps usage)."""
    count: int | None = Field(default=None, ge=0)
    """At most this many calls."""
    sum: Cel | None = None
    """A CEL expression over the call (``args.amount``) whose total is capped by ``max``."""
    max: float | Cel | None = None
    """The cap of ``sum``: a number, or a CEL expression (``resource.total``)."""
    reserve: Literal["request", "approval"] = "request"
    """When a call held for approval takes its share: when it is requested (held
    requests hold budget until decided) or only once it is approved."""
    shadow: bool = False

    @model_validator(mode="after")
    def _one_measure(self) -> LimitSpec:
        if (self.count is None) == (self.sum is None):
            raise ValueError("a limit has either `count: N` or `sum: EXPR` with `max: N`")
        if (self.sum is None) != (self.max is None):
            raise ValueError("`sum` and `max` go together")
        if isinstance(self.max, float | int) and self.max < 0:
            raise ValueError("`max` must be 0 or more")
        if self.per == "run" and self.window is not None:
            raise ValueError("a per-run limit has no `window`; the run is the window")
        if self.per in ("agent", "principal") and self.window is None:
            raise ValueError(f"a per-{self.per} limit needs a `window`, e.g. `window: 24h`")
        return self


class GrantSpec(_Spec):
    """A tool (or tools, by wildcard) an agent may call, and the conditions on it."""

    id: str | None = None
    tool: ToolPattern
    effect: Effect | None = None
    """Effect class for tools whose own is only a guess (unclassified MCP tools); it
    raises, and never lowers, the effect a tool declares."""
    when: Cel | None = None
    """The call is allowed only when this holds."""
    approval: ApprovalSpec | Literal["never"] | None = None
    """When a person must confirm; ``never`` turns off the effect-class default."""
    limits: list[LimitSpec] = []
    untrusted: UntrustedDecision | None = None
    """What happens once the run has read untrusted content; the policy default when absent."""
    shadow: bool = False
    """Decide and record, but do not enforce this grant's conditions."""
    unscoped: str | None = Field(default=None, min_length=3)
    """Why the agent's data ``scope`` does not apply to this grant's tools (they target
    no one's records: a search, a shared inbox). Without it, a scoped agent's call of a
    tool whose target cannot be located is refused."""


class VouchSpec(_Spec):
    """Values vouched for without a tool or a person saying so."""

    values: list[str] = []
    """Identifiers vouched for by the policy (``ap@bank.example``, an IBAN, a URL)."""
    domains: list[str] = []
    """Domains whose addresses, URLs and subdomains the policy vouches for."""


class AgentVouchSpec(VouchSpec):
    task: bool = False
    """Identifiers named in the task the agent is given are vouched for (``task``).
    Leave off for agents whose task itself comes from outside (a ticket, an email)."""


class AgentSpec(_Spec):
    description: str | None = None
    may_act_for: list[PrincipalRef] = Field(min_length=1)
    scope: Cel | None = None
    """Data scope the target must satisfy: ``resource.team == principal.attributes.team``."""
    tools: list[GrantSpec] = []
    shadow: bool = False
    vouch: AgentVouchSpec = AgentVouchSpec()
    """What this agent's runs count as vouched for, besides tools and approvals."""


FieldPath = Annotated[str, Field(pattern=r"^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)$")]


class ToolClassSpec(_Spec):
    """How a tool is classified, for tools whose own declaration says less (a
    third-party library, an MCP server). What the tool declares itself may not be
    contradicted here (a load error); what it leaves open is set here."""

    effect: Effect | None = None
    untrusted_fields: list[FieldPath] | None = None
    """Result fields carrying outside content; ``["*"]`` for the whole result."""
    vouches: list[FieldPath] | None = None
    """Result fields whose values the tool vouches for."""
    vouches_args: list[str] | None = None
    """Arguments a successful call vouches for."""
    targets: list[str] | None = None
    """Arguments that steer the action (checked by ``defaults.untrusted.unless_vouched``)."""
    recipients: list[str] | None = None
    """Address arguments, seen all at once as ``recipients``."""
    secret_args: list[str] | None = None
    """Arguments whose values are secrets."""


class DefaultApprovalSpec(_Spec):
    effects: list[Effect] = [Effect.IRREVERSIBLE, Effect.COMMUNICATE]
    """Effect classes that need approval unless a grant says ``approval: never``."""
    approvers: list[PrincipalRef] = []
    quorum: int = Field(default=1, ge=1)
    expires: Duration = timedelta(hours=24)
    assurance: Assurance = "local"
    """The least assurance an approver needs: ``local`` (any known user, a login or
    not) or ``authenticated`` (a login: password, API token or single sign-on)."""


class DefaultUntrustedSpec(_Spec):
    effects: list[Effect] = [
        Effect.EGRESS,
        Effect.WRITE,
        Effect.COMMUNICATE,
        Effect.IRREVERSIBLE,
    ]
    """Effect classes the rule applies to once a run has read untrusted content."""
    decision: UntrustedDecision = "needs_approval"
    unless_vouched: bool = False
    """Precise mode: a call whose every target argument is vouched for (by the task, a
    trusted tool, an approval or the policy) is not held by the rule; one with a
    value seen only in untrusted output, or of unknown provenance, is."""


class DefaultsSpec(_Spec):
    approval: DefaultApprovalSpec = DefaultApprovalSpec()
    untrusted: DefaultUntrustedSpec = DefaultUntrustedSpec()


class RedactSpec(_Spec):
    fields: list[str] = []
    """Personal-data field names masked in tool output and in the audit trail."""
    secrets: list[str] = []
    """Extra field names treated as secrets (password, token, api_key… always are)."""


class OutputSpec(_Spec):
    max_chars: int = Field(default=16_000, ge=100)
    """Tool results longer than this (as JSON) are cut before the model sees them."""


class PolicySpec(_Spec):
    """A tether policy file."""

    version: Literal[1] = Field(description="Format version of this file; always 1")
    description: str | None = None
    mode: Literal["enforce", "shadow"] = "enforce"
    toolsets: list[str] = []
    """Where the tools come from: ``package.module:attribute`` naming a Toolset."""
    roles: dict[str, RoleSpec] = {}
    users: dict[str, UserSpec] = {}
    agents: dict[str, AgentSpec] = {}
    tools: dict[ToolPattern, ToolClassSpec] = {}
    """Classification of tools by name: effect, untrusted fields, vouching, secrets."""
    vouch: VouchSpec = VouchSpec()
    """Values and domains every agent's runs count as vouched for by the policy."""
    defaults: DefaultsSpec = DefaultsSpec()
    break_glass: BreakGlassSpec | None = None
    """An emergency approval path for a named role (off when absent)."""
    redact: RedactSpec = RedactSpec()
    output: OutputSpec = OutputSpec()


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of policy files, as shipped in ``policy.schema.json``: each
    field described by its own ``description`` or, failing that, its docstring."""
    schema = PolicySpec.model_json_schema()
    for model in _models(PolicySpec):
        described = schema if model is PolicySpec else schema["$defs"][model.__name__]
        docs = _field_docstrings(model)
        for name, field_schema in described["properties"].items():
            if model.model_fields[name].description is None and name in docs:
                field_schema["description"] = docs[name]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tether.dev/schemas/policy.schema.json"
    return schema


def _models(model: type[_Spec]) -> list[type[_Spec]]:
    """``model`` and every policy model its fields hold, each once."""
    found: dict[type[_Spec], None] = {}
    todo = [model]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found[current] = None
        for field in current.model_fields.values():
            todo.extend(_spec_models_in(field.annotation))
    return list(found)


def _spec_models_in(annotation: Any) -> list[type[_Spec]]:
    if isinstance(annotation, type) and issubclass(annotation, _Spec):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _spec_models_in(arg)]


def _field_docstrings(model: type[_Spec]) -> dict[str, str]:
    """The string under each field of ``model`` and of the policy models it extends."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, _Spec)) or cls is _Spec:
            continue
        (definition,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
        body = definition.body if isinstance(definition, ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs
