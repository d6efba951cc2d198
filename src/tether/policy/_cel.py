"""CEL conditions: compiled once when the policy loads, evaluated per call."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.lazy import load_on_first_use


def _defer_cel_shell() -> None:
    """Have ``cel.cli`` (the package's interactive shell) run when it is first used.

    The ``cel`` package imports its shell (prompt_toolkit, Pygments) whenever it is
    imported: most of what loading a policy costs a fresh ``tether`` process, for a
    shell tether never uses.
    """
    if "cel" in sys.modules:
        return
    package = importlib.util.find_spec("cel")
    if package is None or not package.submodule_search_locations:
        return
    load_on_first_use("cel.cli", within=package.submodule_search_locations)


_defer_cel_shell()

import cel  # noqa: E402
from cel.stdlib import STDLIB_FUNCTIONS  # noqa: E402

from tether.calls import to_cel  # noqa: E402
from tether.policy._fastpath import FUNCTIONS_KEY, Node, Unsupported, compile_fast  # noqa: E402

VARIABLES = ("args", "principal", "run", "resource", "agent", "tool", "now", "recipients")
"""The names a policy condition may read."""

PROVENANCE_FUNCTIONS = ("vouched", "vouched_by", "from_untrusted")
"""Functions over the provenance of a value (:mod:`tether.provenance`)."""

_NATIVE_FUNCTIONS = frozenset(
    {
        "bytes", "bool", "contains", "double", "duration", "dyn", "endsWith", "int", "matches",
        "max", "min", "size", "startsWith", "string", "timestamp", "type", "uint",
        "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear", "getHours",
        "getMilliseconds", "getMinutes", "getMonth", "getSeconds",
    }
)  # fmt: skip
EXTENSION_FUNCTIONS = frozenset(STDLIB_FUNCTIONS)
"""CEL's extension libraries (strings: ``lowerAscii``, ``trim``, ``split``…; math, sets,
lists, encoders), as cel-go ships them."""
KNOWN_FUNCTIONS = _NATIVE_FUNCTIONS | EXTENSION_FUNCTIONS | frozenset(PROVENANCE_FUNCTIONS)
_PROVENANCE_CALL = re.compile(r"\b(" + "|".join(PROVENANCE_FUNCTIONS) + r")\s*\(\s*([^,)]*)")

_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_STRING = re.compile(r"""[rR]?("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_PATH = re.compile(r"\b(" + "|".join(VARIABLES) + r")\b((?:\s*\.\s*[A-Za-z_]\w*)*)(\s*[(\[]?)")

FieldPath = tuple[str, ...]
Projection = dict[str, frozenset[FieldPath] | None]
"""Per variable, the field paths conditions read; None when they read it whole."""


class ConditionError(ValueError):
    """A condition could not be compiled or evaluated."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled CEL expression and the variables it reads."""

    source: str
    program: Any
    reads: frozenset[str]
    paths: Projection
    """The fields of each variable it reads, so only those are handed to CEL."""
    fast: Node | None = None
    """The same condition on plain Python values, when it is simple enough."""
    functions: frozenset[str] = frozenset()
    """The extension and provenance functions it calls (registered only for it)."""
    provenance_args: tuple[str, ...] = ()
    """The expressions whose provenance it asks about (``args.to``), for load checks."""

    def evaluate(self, activation: Activation) -> Any:
        if self.fast is not None:
            try:
                return self.fast(activation.fast_values(self.reads, self.functions))
            except Unsupported:
                pass  # CEL decides: a missing field, mixed types, anything unusual
        try:
            return self.program.execute(activation.context_for(self.reads, self.functions))
        except KeyError as exc:
            raise ConditionError(f"field {exc} is missing") from None
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ConditionError(_first_sentence(str(exc))) from None

    def holds(self, activation: Activation) -> bool:
        """True when the expression evaluates to ``true``; an error if it is not a boolean."""
        value = self.evaluate(activation)
        if not isinstance(value, bool):
            raise ConditionError(f"evaluated to {value!r}, not true or false")
        return value


def compile_condition(source: str) -> Condition:
    """Compile ``source``; :class:`ConditionError` names what is wrong."""
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise ConditionError(f"does not compile: {_syntax_message(str(exc))}") from None
    bound = set(_BOUND.findall(source))
    called = {name for name in program.functions() if name[0].isalpha()}
    reads = set(program.variables()) - bound - called
    unknown = sorted(reads - set(VARIABLES))
    if unknown:
        raise ConditionError(
            f"unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"a condition may read {', '.join(VARIABLES)}"
        )
    unknown_functions = sorted(called - KNOWN_FUNCTIONS)
    if unknown_functions:
        raise ConditionError(
            f"calls unknown function{'s' if len(unknown_functions) > 1 else ''} "
            f"{', '.join(unknown_functions)}; the string functions are lowerAscii, upperAscii, "
            "trim, split, replace, indexOf, lastIndexOf, substring, charAt, join, reverse; "
            "provenance: vouched(x), vouched_by(x, source), from_untrusted(x); see "
            "docs/untrusted.md"
        )
    provenance_args = _provenance_args(source, bound)
    paths = {
        name: frozenset(found) if found is not None else None
        for name, found in field_paths(source).items()
        if name in reads
    }
    return Condition(
        source=source,
        program=program,
        reads=frozenset(reads),
        paths=paths,
        fast=compile_fast(source, frozenset(reads), frozenset(PROVENANCE_FUNCTIONS)),
        functions=frozenset(called - _NATIVE_FUNCTIONS),
        provenance_args=provenance_args,
    )


def _provenance_args(source: str, bound: set[str]) -> tuple[str, ...]:
    """The first argument of each provenance function call; a literal, or a value
    that is not read from the call, cannot carry provenance."""
    found = []
    for name, written in _PROVENANCE_CALL.findall(_STRING.sub('""', source)):
        argument = written.strip()
        root = re.split(r"[.\[\s]", argument, maxsplit=1)[0]
        if root not in ("args", "recipients", "run", "resource") and root not in bound:
            raise ConditionError(
                f"{name}({argument or '…'}) asks about a value that cannot carry provenance; "
                "give it a value the call carries, e.g. vouched(args.to) or "
                "recipients.all(r, vouched(r))"
            )
        found.append(argument)
    return tuple(found)


def field_paths(source: str) -> dict[str, set[FieldPath] | None]:
    """The dotted field paths an expression reads from each variable.

    ``args.amount <= 500.0 && args.to.all(r, r.endsWith("@x"))`` reads ``args.amount``
    and ``args.to``. A variable used any other way (``"x" in args``) is read whole.
    """
    found: dict[str, set[FieldPath] | None] = {}
    for match in _PATH.finditer(_STRING.sub('""', source)):
        name, dotted, after = match.groups()
        fields = tuple(part.strip() for part in dotted.split(".")[1:])
        if after.strip() == "(" and fields:
            fields = fields[:-1]  # the last name is a method: args.to.all(...)
        current = found.get(name, set())
        if not fields or current is None:
            found[name] = None
        else:
            current.add(fields)
            found[name] = current
    return found


def merge_projections(projections: list[Projection]) -> Projection:
    merged: Projection = {}
    for projection in projections:
        for name, paths in projection.items():
            if name in merged and (merged[name] is None or paths is None):
                merged[name] = None
            else:
                merged[name] = (merged.get(name) or frozenset()) | (paths or frozenset())
    return merged


def project(value: Any, paths: frozenset[FieldPath] | None) -> Any:
    """``value`` reduced to the fields at ``paths``: less to convert, same answers.

    A path that is missing stays missing, so a condition reading it still fails.
    """
    if paths is None or type(value) is not dict:
        return value
    if () in paths:
        return value
    heads: dict[str, set[FieldPath]] = {}
    for path in paths:
        heads.setdefault(path[0], set()).add(path[1:])
    return {
        key: project(value[key], frozenset(rest)) for key, rest in heads.items() if key in value
    }


class Activation:
    """The variables of one decision, made plain once and only when read.

    ``projection`` names the fields the policy's conditions read; only those are
    converted, which is most of the cost of evaluating a condition.
    """

    __slots__ = ("_context", "_functions", "_loaded", "_plain", "_projection", "_sources")

    def __init__(
        self,
        sources: Mapping[str, Callable[[], Any]],
        projection: Projection | None = None,
        functions: Callable[[], Mapping[str, Callable[..., Any]]]
        | Mapping[str, Callable[..., Any]]
        | None = None,
    ) -> None:
        self._sources = sources
        self._projection = projection or {}
        self._functions: (
            Callable[[], Mapping[str, Callable[..., Any]]] | Mapping[str, Callable[..., Any]] | None
        ) = functions
        self._plain: dict[str, Any] = {}
        self._context: Any = None
        self._loaded: set[str] = set()

    def fast_values(self, names: frozenset[str], functions: frozenset[str]) -> dict[str, Any]:
        """:meth:`plain`, with the provenance functions when the condition calls them."""
        values = self.plain(names)
        if functions and FUNCTIONS_KEY not in values:
            values[FUNCTIONS_KEY] = self._provenance()
        return values

    def _provenance(self) -> Mapping[str, Callable[..., Any]]:
        if self._functions is None:
            raise ConditionError("provenance functions are not available here")
        if not isinstance(self._functions, Mapping):
            self._functions = self._functions()  # made once per decision
        return self._functions

    def plain(self, names: frozenset[str]) -> dict[str, Any]:
        """The variables as plain JSON-like values (for the fast path and for CEL)."""
        for name in names:
            if name not in self._plain:
                value = project(self._sources[name](), self._projection.get(name))
                self._plain[name] = to_cel(value)
        return self._plain

    def context_for(self, names: frozenset[str], functions: frozenset[str] = frozenset()) -> Any:
        """A CEL context holding (at least) ``names`` and ``functions``."""
        if self._context is None:
            self._context = cel.Context()
        values = self.plain(names)
        for name in names - self._loaded:
            self._context.add_variable(name, values[name])
            self._loaded.add(name)
        for function in functions - self._loaded:
            if function in EXTENSION_FUNCTIONS:
                self._context.add_function(function, STDLIB_FUNCTIONS[function])
            else:
                self._context.add_function(function, self._provenance()[function])
            self._loaded.add(function)
        return self._context


def _syntax_message(text: str) -> str:
    # The library's message repeats the expression; keep the part that says what is wrong.
    match = re.search(r"ERROR: <input>:\d+:(\d+): (.*?)(?:\n|$)", text)
    if match:
        return f"at column {match.group(1)}: {match.group(2)}"
    return _first_sentence(text)


def _first_sentence(text: str) -> str:
    return text.split(". ", 1)[0].strip().rstrip(".")
