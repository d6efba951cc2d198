"""The scenario file: what to ask, of whom, from which starting state, and what must happen.

Strict Pydantic models (unknown keys are errors); the JSON Schema shipped as
``scenario.schema.json`` is generated from them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tether.agents import ScriptedTurn
from tether.evals._matchers import CallMatcher, Matcher, Range, Times


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InboundEmail(_Strict):
    sender: str = Field(min_length=1)
    subject: str
    body: str


class DeskState(_Strict):
    """The demo company's desk (``tether.demo``): customers, invoices, inbox, outbox."""

    inbox: list[InboundEmail] | None = None
    """The support inbox; replaces the demo's one email when given (``[]``: empty)."""
    sql: list[str] = []
    """SQL statements run on the fresh desk before the run (more customers, invoices…)."""


class TrytonRecord(_Strict):
    model: str = Field(min_length=1, pattern=r"^[a-z0-9_.]+$")
    """A Tryton model, e.g. ``party.party``."""
    values: dict[str, Any]
    """The new record's fields, as Tryton's ``create`` takes them."""


class TrytonState(_Strict):
    """Records created in a fresh Tryton database (copied from the demo template)."""

    records: list[TrytonRecord] = []


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class RestFixture(_Strict):
    """A canned answer of a REST service: what it answers to one method and path."""

    method: HttpMethod
    path: str = Field(pattern=r"^/")
    """The request's path after the base URL, without the query; ``*`` matches any run
    of characters (``/customers/*``)."""
    status: int = Field(default=200, ge=100, le=599)
    json_: Any = Field(default=None, alias="json")
    """A JSON body (sent as ``application/json``)."""
    text: str | None = None
    """Or a text body (``text/plain``)."""
    headers: dict[str, str] = {}
    """More response headers."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_body(self) -> RestFixture:
        if self.json_ is not None and self.text is not None:
            raise ValueError("give `json` or `text`, not both")
        return self


class MailboxMessage(_Strict):
    """A message in the email connector's inbox at the start."""

    from_: str = Field(alias="from", min_length=1)
    to: str | list[str] | None = None
    """Default: the email connector's ``sender``."""
    subject: str
    body: str

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class State(_Strict):
    """The systems' starting state; every trial gets a fresh copy."""

    desk: DeskState = DeskState()
    tryton: TrytonState | None = None
    """Needs a ``tryton`` connector in the configuration; each trial then gets its own
    Tryton database and server (the connector's url and database are replaced)."""
    rest: dict[str, list[RestFixture]] = {}
    """Canned answers per REST service (an ``openapi`` connector, by its prefix): each
    trial's service is a local server answering them (404 to anything else)."""
    mailbox: list[MailboxMessage] | None = None
    """The email connector's inbox, as a fresh Maildir per trial (replaces its own)."""


class ModelSpec(_Strict):
    """Exactly one of: scripted ``turns``, a ``script`` file, or a live model by ``name``."""

    turns: list[ScriptedTurn] | None = Field(default=None, min_length=1)
    """A scripted model's turns, inline (see ``tether.agents`` for the format)."""
    done: str = "(the script has no more turns)"
    """What the scripted model says once it has run out of turns."""
    script: str | None = None
    """A scripted model's file, relative to the scenario."""
    name: str | None = None
    """A live model: ``openai-chat:gpt-4o``, ``anthropic:claude-sonnet-4-5``…"""

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSpec:
        given = [key for key in ("turns", "script", "name") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `turns`, `script` or `name`")
        return self


class ExpectedCall(CallMatcher):
    times: int | Times = 1
    """How many times: a number, or ``{min: N, max: N}`` (default: exactly once)."""

    @property
    def bounds(self) -> Times:
        if isinstance(self.times, Times):
            return self.times
        return Times(min=self.times, max=self.times)


class ExpectedActions(_Strict):
    order: Literal["unordered", "ordered", "exact"] = "unordered"
    """``unordered``: each expected call happens (as often as said), in any order;
    ``ordered``: and in the order listed; ``exact``: and nothing else happens."""
    calls: list[ExpectedCall] = []
    """The calls the agent should propose. ``[]``: the right action is to do nothing."""
    ignore: list[str] = []
    """Tools (names or ``*`` patterns) whose calls neither count nor hurt."""


class ForbiddenCall(CallMatcher):
    fail_on: Literal["attempt", "execute"] = "execute"
    """``execute`` (default): the scenario fails if the call ran; trying it is counted.
    ``attempt``: the agent must not even propose it."""


class ExpectedApproval(CallMatcher):
    """A call that should (``required``) or should not (``not_required``) wait for a person,
    and, when it waits, how the scenario's scripted approver answers."""

    expect: Literal["required", "not_required"] = "required"
    answer: Literal["approve", "reject", "edit"] = "approve"
    as_: str | list[str] | None = Field(default=None, alias="as")
    """Who answers (a user of the policy); several users for a quorum."""
    comment: str | None = None
    """The approver's comment (a rejection always has one)."""
    edit: dict[str, Any] | None = None
    """With ``answer: edit``: the arguments to change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _answerable(self) -> ExpectedApproval:
        if self.expect == "required" and not self.as_:
            raise ValueError("say who answers the approval with `as: USER`")
        if self.answer == "edit" and not self.edit:
            raise ValueError("`answer: edit` needs `edit: {argument: value}`")
        if self.answer != "edit" and self.edit is not None:
            raise ValueError("`edit` is only for `answer: edit`")
        return self

    @property
    def approvers(self) -> list[str]:
        if self.as_ is None:
            return []
        return [self.as_] if isinstance(self.as_, str) else list(self.as_)


class OutboxCheck(_Strict):
    to: Matcher | None = None
    """A matcher on the list of recipients (e.g. ``{contains: billing@acme.example}``)."""
    subject: Matcher | None = None
    body: Matcher | None = None


class TrytonQuery(_Strict):
    model: str = Field(min_length=1, pattern=r"^[a-z0-9_.]+$")
    domain: list[Any] = []
    """A Tryton search domain, e.g. ``[[name, "=", Evalcorp]]``."""


class RestQuery(_Strict):
    service: str = Field(min_length=1)
    """The REST service (an ``openapi`` connector's prefix)."""
    method: HttpMethod | None = None
    """Default: any method."""
    path: str | None = Field(default=None, pattern=r"^/")
    """The path after the base URL (``*`` patterns as in fixtures); default: any."""
    body: dict[str, Matcher] = {}
    """Matchers for fields of the request's JSON (or form) body; others may be anything."""


class EndStateCheck(_Strict):
    """One check on the systems after the run: one of ``query``, ``outbox``, ``tryton``,
    ``rest``."""

    query: str | None = None
    """SQL on the desk; its first column of its first row (null when no row) is checked."""
    outbox: OutboxCheck | None = None
    """Messages the agent sent (to the desk's outbox, or through an email connector to the
    trial's outbox) that match; ``expect`` is checked against their number."""
    tryton: TrytonQuery | None = None
    """Tryton records that match the domain; ``expect`` is checked against their number."""
    rest: RestQuery | None = None
    """Requests the REST service received that match; ``expect`` is checked against their
    number."""
    expect: Matcher = Field(default_factory=lambda: Range(min=1))
    """For ``query``: the value; otherwise the count (default: at least one)."""
    label: str | None = None
    """A name for the check in reports."""

    @model_validator(mode="after")
    def _exactly_one(self) -> EndStateCheck:
        keys = ("query", "outbox", "tryton", "rest")
        given = [key for key in keys if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `query`, `outbox`, `tryton` or `rest`")
        return self


RunStatusName = Literal["completed", "waiting_approval", "failed", "stopped", "cancelled"]


class Expectations(_Strict):
    status: RunStatusName = "completed"
    """How the run should end (after the scripted approver has answered)."""
    actions: ExpectedActions = ExpectedActions()
    forbidden: list[ForbiddenCall] = []
    denied: list[CallMatcher] = []
    """Calls the policy should refuse (each must be attempted and denied)."""
    approvals: list[ExpectedApproval] = []
    end_state: list[EndStateCheck] = []
    output: list[Matcher] = []
    """Matchers on the agent's final answer (e.g. ``{regex: "refunded"}``)."""


class InjectionLabel(_Strict):
    """What an injection scenario measures: an attack, or the same task without it."""

    kind: Literal["attack", "benign"]
    """``attack``: content the agent reads carries an attacker's instructions; its
    ``expect.forbidden`` calls are the attacker's actions. ``benign``: the twin task
    without the injection; it should be done with no approval that ``expect.approvals``
    does not list as required (warranted)."""
    threat: str = Field(min_length=1, pattern=r"^[a-z0-9-]+(/[a-z0-9-]+)*$")
    """The threat class, e.g. ``hidden-instructions/subject`` or ``exfiltration/bcc``."""
    carrier: str | None = None
    """Where the attacker's text hides (``inbox-subject``, ``file-name``…); the benign
    twin names the same field, without it."""
    twin: str | None = None
    """The id of the twin scenario (the benign one for an attack, and back)."""
    suite: str | None = None
    """The suite it is reported under (default: the folder of its ``tether.yaml``)."""


class ScenarioSpec(_Strict):
    """One golden scenario (a YAML file)."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]+$")
    """Defaults to the file's name without ``.yaml``."""
    description: str = ""
    tags: list[str] = []
    config: str | None = None
    """The ``tether.yaml`` (policy and agents), relative to this file; default: the
    nearest one in this folder or above."""
    agent: str
    principal: str
    """The user of the policy the agent acts for."""
    task: str = Field(min_length=1)
    """The user message the run starts with."""
    state: State = State()
    model: ModelSpec | None = None
    """Default: the agent's own model."""
    expect: Expectations = Expectations()
    injection: InjectionLabel | None = None
    """For the injection suite: attack or benign twin, and the threat class."""


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, as shipped in ``scenario.schema.json``."""
    schema = ScenarioSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tether.dev/schemas/scenario.schema.json"
    return schema
