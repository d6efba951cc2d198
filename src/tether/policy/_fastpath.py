"""A fast path for the simplest CEL conditions, evaluated on plain Python values.

Most policy conditions compare fields with literals or with each other
(``args.amount <= 500.0``, ``resource.team == principal.attributes.team``), joined
by ``&&``, ``||`` and ``!``. Handing such a condition's variables to the CEL library
costs far more than evaluating it (the library converts every string and key), so
these conditions are evaluated here directly.

The fast path only answers when the answer is unambiguous under CEL's rules: both
sides of a comparison of the same kind (numbers, strings, booleans, null), every
field present, every operand of ``&&``/``||``/``!`` a boolean. In every other case
it gives up (:class:`Unsupported`) and the CEL library decides, so a condition means
exactly what CEL says it means. A test compares both on generated expressions.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

Values = Mapping[str, Any]
Node = Callable[[Values], Any]
FUNCTIONS_KEY = "@functions"
"""Where the values hold the functions a condition may call (not a CEL name)."""


class Unsupported(Exception):
    """Not for the fast path: let the CEL library evaluate it."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+(?![.\w]))
      | (?P<string>"[^"\\\n]*"|'[^'\\\n]*')
      | (?P<name>[A-Za-z_]\w*)
      | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\[|\]|,|\.)
    )""",
    re.X,
)
_KEYWORDS = {"true": True, "false": False, "null": None}
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compile_fast(
    source: str, variables: frozenset[str], functions: frozenset[str] = frozenset()
) -> Node | None:
    """A Python function for ``source``, or None if it is not a simple condition.

    ``functions`` may be called with plain arguments (``vouched(args.to)``); they are
    found in the values under :data:`FUNCTIONS_KEY`.
    """
    try:
        tokens = _tokenize(source)
        parser = _Parser(tokens, variables, functions)
        node = parser.expression()
        if parser.position != len(tokens):
            return None
    except Unsupported:
        return None
    return node


def _tokenize(source: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.lastgroup is None:
            raise Unsupported(source[position:])
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(
        self,
        tokens: list[tuple[str, str]],
        variables: frozenset[str],
        functions: frozenset[str] = frozenset(),
    ) -> None:
        self.tokens = tokens
        self.variables = variables
        self.functions = functions
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (text is not None and token[1] != text):
            raise Unsupported(text)
        self.position += 1
        return token

    def expression(self) -> Node:
        node = self.conjunction()
        while self.peek() == ("op", "||"):
            self.take()
            node = _or(node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.relation()
        while self.peek() == ("op", "&&"):
            self.take()
            node = _and(node, self.relation())
        return node

    def relation(self) -> Node:
        left = self.unary()
        token = self.peek()
        if token is None or token[1] not in ("==", "!=", "<", "<=", ">", ">=", "in"):
            return left
        self.take()
        right = self.unary()
        if token[1] == "in":
            return _in(left, right)
        if token[1] in ("==", "!="):
            return _equal(left, right, negate=token[1] == "!=")
        return _ordered(left, right, _ORDER[token[1]])

    def unary(self) -> Node:
        if self.peek() == ("op", "!"):
            self.take()
            return _not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "number":
            number = float(text) if any(c in text for c in ".eE") else int(text)
            return lambda _values: number
        if kind == "string":
            literal = text[1:-1]
            return lambda _values: literal
        if kind == "name" and text in _KEYWORDS:
            keyword = _KEYWORDS[text]
            return lambda _values: keyword
        if kind == "name" and text in self.functions and self.peek() == ("op", "("):
            return self.function_call(text)
        if kind == "name" and text in self.variables:
            return self.path(text)
        if text == "(":
            node = self.expression()
            self.take(")")
            return node
        if text == "[":
            return self.list_literal()
        raise Unsupported(text)

    def path(self, variable: str) -> Node:
        fields: list[str] = []
        while self.peek() == ("op", "."):
            self.take()
            kind, name = self.take()
            if kind != "name" or self.peek() == ("op", "("):
                raise Unsupported(name)  # a method call: leave it to CEL
            fields.append(name)
        return _path(variable, tuple(fields))

    def function_call(self, name: str) -> Node:
        self.take("(")
        arguments: list[Node] = []
        while self.peek() != ("op", ")"):
            arguments.append(self.expression())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")

        def call(values: Values) -> Any:
            return values[FUNCTIONS_KEY][name](*(argument(values) for argument in arguments))

        return call

    def list_literal(self) -> Node:
        items: list[Node] = []
        while self.peek() != ("op", "]"):
            items.append(self.primary())
            if self.peek() == ("op", ","):
                self.take()
        self.take("]")
        return lambda values: [item(values) for item in items]


def _path(variable: str, fields: tuple[str, ...]) -> Node:
    def resolve(values: Values) -> Any:
        value = values[variable]
        for name in fields:
            if type(value) is not dict or name not in value:
                raise Unsupported(name)  # CEL reports the missing field
            value = value[name]
        return value

    return resolve


def _kind(value: Any) -> str:
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is int or kind is float:
        return "number"
    if kind is str:
        return "string"
    if value is None:
        return "null"
    raise Unsupported(kind.__name__)


def _equal(left: Node, right: Node, *, negate: bool) -> Node:
    def equal(values: Values) -> bool:
        a, b = left(values), right(values)
        if _kind(a) != _kind(b):
            raise Unsupported("mixed types")
        return bool(a != b) if negate else bool(a == b)

    return equal


def _ordered(left: Node, right: Node, compare: Callable[[Any, Any], bool]) -> Node:
    def ordered(values: Values) -> bool:
        a, b = left(values), right(values)
        kind = _kind(a)
        if kind != _kind(b) or kind not in ("number", "string"):
            raise Unsupported("not comparable here")
        return compare(a, b)

    return ordered


def _in(left: Node, right: Node) -> Node:
    def contains(values: Values) -> bool:
        needle, haystack = left(values), right(values)
        kind = _kind(needle)
        if type(haystack) is dict:
            if kind != "string":
                raise Unsupported("map key")
            return bool(needle in haystack)
        if type(haystack) is not list or any(_kind(item) != kind for item in haystack):
            raise Unsupported("mixed list")
        return bool(needle in haystack)

    return contains


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Unsupported("not a boolean")
    return value


def _not(operand: Node) -> Node:
    return lambda values: not _boolean(operand(values))


def _and(left: Node, right: Node) -> Node:
    # An error on either side is CEL's to judge (false && error is false): give up.
    return lambda values: _boolean(left(values)) and _boolean(right(values))


def _or(left: Node, right: Node) -> Node:
    return lambda values: _boolean(left(values)) or _boolean(right(values))
