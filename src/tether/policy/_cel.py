"""CEL conditions: compiled once when the policy loads, evaluated per call."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cel

VARIABLES = ("args", "principal", "run", "resource", "agent", "tool", "now")
"""The names a policy condition may read."""

_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


class ConditionError(ValueError):
    """A condition could not be compiled or evaluated."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled CEL expression and the variables it reads."""

    source: str
    program: Any
    reads: frozenset[str]

    def evaluate(self, activation: Activation) -> Any:
        try:
            return self.program.execute(activation.context_for(self.reads))
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
    reads = set(program.variables()) - bound
    unknown = sorted(reads - set(VARIABLES))
    if unknown:
        raise ConditionError(
            f"unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"a condition may read {', '.join(VARIABLES)}"
        )
    return Condition(source=source, program=program, reads=frozenset(reads))


class Activation:
    """The variables of one decision, converted for CEL once and only when read."""

    __slots__ = ("_context", "_loaded", "_sources")

    def __init__(self, sources: Mapping[str, Callable[[], Any]]) -> None:
        self._sources = sources
        self._context = cel.Context()
        self._loaded: set[str] = set()

    def context_for(self, names: frozenset[str]) -> Any:
        for name in names - self._loaded:
            self._context.add_variable(name, self._sources[name]())
            self._loaded.add(name)
        return self._context


def _syntax_message(text: str) -> str:
    # The library's message repeats the expression; keep the part that says what is wrong.
    match = re.search(r"ERROR: <input>:\d+:(\d+): (.*?)(?:\n|$)", text)
    if match:
        return f"at column {match.group(1)}: {match.group(2)}"
    return _first_sentence(text)


def _first_sentence(text: str) -> str:
    return text.split(". ", 1)[0].strip().rstrip(".")
