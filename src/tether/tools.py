"""Tools: typed Python functions with the metadata the gate reads.

A tool's arguments are validated by a Pydantic model built from its signature
(unknown fields are rejected); its metadata says what kind of effect it has on the
world, which resource it targets, whether it can be undone and how to preview it.
Connectors produce tools of exactly this kind.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from tether.errors import ToolArgumentsError, UnknownToolError

_F = TypeVar("_F", bound=Callable[..., Any])


class Effect(StrEnum):
    """What a tool does to the world, from least to most consequential."""

    READ = "read"
    EGRESS = "egress"
    """Sends its arguments outside the company (a URL fetch, an outside search) but
    changes nothing: judged like a consequential call once the run is tainted."""
    WRITE = "write"
    COMMUNICATE = "communicate"
    IRREVERSIBLE = "irreversible"

    @property
    def rank(self) -> int:
        return _EFFECT_ORDER.index(self)

    def at_least(self, other: Effect) -> Effect:
        """The more cautious of two effect classes."""
        return self if self.rank >= other.rank else other


_EFFECT_ORDER = [Effect.READ, Effect.EGRESS, Effect.WRITE, Effect.COMMUNICATE, Effect.IRREVERSIBLE]


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """What a running tool may know about its call. Declare a parameter of this type to get it."""

    run_id: str
    """The run the call belongs to."""
    call_id: str
    """The call's id, unique in its run."""
    idempotency_key: str
    """Derived from run and call: a connector passes it on so a retry never repeats an effect."""


@dataclass(frozen=True, kw_only=True)
class ReadBack:
    """How a tool reads back, from the system it acts on, what a call changed there.

    The gate calls ``after`` once the tool has answered, and ``before`` just before it
    runs; the executed event records both beside the tool's answer ("what the system
    shows happened"), and every field where the read-back disagrees with what the tool
    said (``expect``) as a discrepancy. A read-back must only read. Each function may
    be sync or async.
    """

    after: Callable[[dict[str, Any], Any], Any]
    """Given the call's validated arguments and the tool's answer, the state the system
    shows now, read from the system (never copied from the answer)."""
    before: Callable[[dict[str, Any]], Any] | None = None
    """Given the arguments, the state before the effect (read just before the call runs)."""
    expect: Callable[[dict[str, Any], Any], Any] | None = None
    """Given the arguments and the answer, what the read-back must show: every field
    of it is compared, and one the read-back lacks is a discrepancy. Besides, the
    answer's fields that the read-back also has are always compared."""
    system: str = ""
    """Where the read-back reads (``tryton``, ``outbox``, a base URL), for the record."""


@dataclass(frozen=True, kw_only=True)
class Tool:
    """A function the agent may ask to call, and what the gate needs to know about it."""

    name: str
    """Dotted name the policy grants, e.g. ``erp.create_credit_note``."""
    function: Callable[..., Any]
    """The implementation; sync or async."""
    description: str
    """What the model is told the tool does."""
    effect: Effect
    """The effect class the policy's default rules key off."""
    effect_from_policy: bool = False
    """The tool's own effect is only a cautious guess (an MCP tool nobody classified):
    a grant's ``effect:`` replaces it, lower or higher. Otherwise a grant can only raise it."""
    args_model: type[BaseModel]
    """Validates the arguments; unknown fields are rejected."""
    returns: TypeAdapter[Any] | None = None
    """Validates the result against the declared return type, when there is one."""
    resource: str | None = None
    """The kind of record the tool targets (``party``, ``invoice``), for data scopes."""
    locate: Callable[..., Mapping[str, Any] | None] | None = None
    """Given the validated arguments, the attributes of the targeted record (its team…)."""
    idempotent: bool = False
    """Calling twice with the same arguments has the effect of calling once."""
    reversed_by: str | None = None
    """The tool that undoes this one's effect, if any."""
    reverse_args: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
    """Given this call's arguments and result, the arguments of the reversing call."""
    preview: Callable[..., Any] | None = None
    """A dry run: same arguments, returns what would change, changes nothing."""
    read_back: ReadBack | None = None
    """How to read back from the system what a call changed (the outcome record)."""
    untrusted_output: bool = False
    """The result carries outside content (an inbound email): reading it taints the run.
    ``untrusted_fields`` says which parts, when only some do (and sets this)."""
    untrusted_fields: tuple[str, ...] = ()
    """Dotted paths of the result's fields that carry outside content (``body``,
    ``messages.subject``; lists are walked into): only these taint the run, and the
    identifiers they name are marked as seen in untrusted output."""
    contacts: Callable[[Any], Iterable[str]] | None = None
    """The addresses a result vouches for (a customer's email read from the CRM): the
    run may then write to them (``run.known_contacts``)."""
    vouches: tuple[str, ...] = ()
    """Dotted paths of result fields whose values the tool vouches for (a party's
    email and IBAN from the ERP's own records)."""
    vouches_args: tuple[str, ...] = ()
    """Arguments a successful call vouches for (inviting a user makes them a member;
    creating a party makes its address known)."""
    targets: tuple[str, ...] | None = None
    """Arguments that steer the action (recipients, accounts, URLs, record ids), whose
    provenance the untrusted-content rule checks; None: every argument does."""
    recipients: tuple[str, ...] = ()
    """Address arguments (to, cc, bcc, reply_to, participants, share targets), seen by
    conditions all at once as ``recipients``."""
    secret_args: frozenset[str] = field(default_factory=frozenset)
    """Argument names whose values are secrets: never shown to the model or stored in clear."""
    context_param: str | None = None
    """Name of the parameter that receives the :class:`ToolContext`, if the function has one."""

    def __post_init__(self) -> None:
        if self.untrusted_fields and not self.untrusted_output:
            # Fields of outside content make an output with outside content.
            object.__setattr__(self, "untrusted_output", True)

    @property
    def untrusted_paths(self) -> tuple[str, ...]:
        """The result's untrusted fields; ``("*",)`` when the whole result is."""
        if self.untrusted_fields:
            return self.untrusted_fields
        return ("*",) if self.untrusted_output else ()

    @property
    def target_args(self) -> tuple[str, ...]:
        """The arguments that steer the action (all of them unless declared)."""
        if self.targets is not None:
            return self.targets
        return tuple(self.arg_names())

    def arg_names(self) -> list[str]:
        return list(self.args_model.model_fields)

    def effect_under(self, granted: Effect | None) -> Effect:
        """The effect class a call has under a grant that says ``granted`` (or nothing)."""
        if granted is None:
            return self.effect
        return granted if self.effect_from_policy else self.effect.at_least(granted)

    def validate_args(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments as the function will receive them, or :class:`ToolArgumentsError`."""
        try:
            model = self.args_model.model_validate(dict(args))
        except ValidationError as exc:
            raise ToolArgumentsError(self.name, _describe(exc)) from None
        return {name: getattr(model, name) for name in type(model).model_fields}

    def json_schema(self) -> dict[str, Any]:
        """The arguments' JSON Schema, as the model sees it."""
        return self.args_model.model_json_schema()


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
    return "invalid arguments: " + "; ".join(problems)


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    effect: Effect | str = Effect.READ,
    resource: str | None = None,
    locate: Callable[..., Mapping[str, Any] | None] | None = None,
    idempotent: bool = False,
    reversed_by: str | None = None,
    reverse_args: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
    preview: Callable[..., Any] | None = None,
    read_back: ReadBack | None = None,
    untrusted_output: bool = False,
    untrusted_fields: Iterable[str] = (),
    contacts: Callable[[Any], Iterable[str]] | None = None,
    vouches: Iterable[str] = (),
    vouches_args: Iterable[str] = (),
    targets: Iterable[str] | None = None,
    recipients: Iterable[str] = (),
    secret_args: Iterable[str] = (),
    description: str | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    effect: Effect | str = Effect.READ,
    resource: str | None = None,
    locate: Callable[..., Mapping[str, Any] | None] | None = None,
    idempotent: bool = False,
    reversed_by: str | None = None,
    reverse_args: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
    preview: Callable[..., Any] | None = None,
    read_back: ReadBack | None = None,
    untrusted_output: bool = False,
    untrusted_fields: Iterable[str] = (),
    contacts: Callable[[Any], Iterable[str]] | None = None,
    vouches: Iterable[str] = (),
    vouches_args: Iterable[str] = (),
    targets: Iterable[str] | None = None,
    recipients: Iterable[str] = (),
    secret_args: Iterable[str] = (),
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` of a typed function.

    ```python
    @tool(name="erp.create_credit_note", effect="irreversible", resource="invoice")
    def create_credit_note(invoice_id: int, amount: float) -> dict[str, int]: ...
    ```
    """

    def build(fn: Callable[..., Any]) -> Tool:
        args_model, context_param = _args_model(fn)
        hints = get_type_hints(fn, include_extras=True)
        returns = hints.get("return")
        built = Tool(
            name=name or fn.__name__,
            function=fn,
            description=description or inspect.getdoc(fn) or "",
            effect=Effect(effect),
            args_model=args_model,
            returns=None if returns is None else TypeAdapter(returns),
            resource=resource,
            locate=locate,
            idempotent=idempotent,
            reversed_by=reversed_by,
            reverse_args=reverse_args,
            preview=preview,
            read_back=read_back,
            untrusted_output=untrusted_output,
            untrusted_fields=tuple(untrusted_fields),
            contacts=contacts,
            vouches=tuple(vouches),
            vouches_args=tuple(vouches_args),
            targets=None if targets is None else tuple(targets),
            recipients=tuple(recipients),
            secret_args=frozenset(secret_args),
            context_param=context_param,
        )
        check_declaration(built)
        return built

    return build if function is None else build(function)


_DECLARED = "__tether_tool__"
_BY_NAME = ("preview", "locate", "contacts", "reverse_args")
"""Options of :func:`declare` that may name a method of the object that declares it."""


def declare(**options: Any) -> Callable[[_F], _F]:
    """Declare a method as a tool, its metadata beside it; :func:`declared_tools` makes
    the tools of an object, bound to it.

    The options are :func:`tool`'s. ``preview``, ``locate``, ``contacts`` and
    ``reverse_args`` may be given as the name of another method of the same object;
    ``read_back`` as a function of the object that makes its :class:`ReadBack`.

    ```python
    class Crm:
        @declare(name="crm.update_party", effect="write", preview="update_party_preview")
        def update_party(self, party_id: int, email: str) -> PartyChange: ...
    ```
    """

    def mark(method: _F) -> _F:
        setattr(method, _DECLARED, options)
        return method

    return mark


def declared_tools(owner: object) -> list[Tool]:
    """The tools ``owner``'s class (and its bases) declare with :func:`declare`, bound to
    ``owner``, in the order they are declared."""
    seen: set[str] = set()
    tools: list[Tool] = []
    for klass in reversed(type(owner).__mro__):
        for attribute, member in vars(klass).items():
            options = getattr(member, _DECLARED, None)
            if options is None or attribute in seen:
                continue
            seen.add(attribute)
            bound = {
                key: getattr(owner, value) if key in _BY_NAME and isinstance(value, str) else value
                for key, value in options.items()
            }
            if callable(bound.get("read_back")) and not isinstance(bound["read_back"], ReadBack):
                bound["read_back"] = bound["read_back"](owner)
            tools.append(tool(**bound)(getattr(owner, attribute)))
    return tools


def check_declaration(item: Tool) -> None:
    """Refuse a tool whose declarations name arguments it does not have."""
    known = set(item.arg_names())
    for label, names in (
        ("vouches_args", item.vouches_args),
        ("targets", item.targets or ()),
        ("recipients", item.recipients),
        ("secret_args", item.secret_args),
    ):
        unknown = sorted(set(names) - known)
        if unknown:
            raise TypeError(
                f"tool {item.name!r}: {label} names {', '.join(unknown)}, which are not "
                f"its arguments ({', '.join(sorted(known)) or 'none'})"
            )


def _args_model(fn: Callable[..., Any]) -> tuple[type[BaseModel], str | None]:
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, Any)
        if annotation is ToolContext:
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__!r}: *args and **kwargs are not allowed")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    model = create_model(
        f"{fn.__name__}_args",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return model, context_param


class Toolset:
    """A collection of tools by name. Built-in connectors and user code produce these."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.add(item)

    def add(self, item: Tool) -> None:
        if item.name in self._tools:
            raise ValueError(f"two tools are named {item.name!r}")
        self._tools[item.name] = item

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(name, sorted(self._tools)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __or__(self, other: Toolset) -> Toolset:
        return Toolset([*self, *other])
