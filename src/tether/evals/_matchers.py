"""Matchers: how a scenario says what a value should be.

A plain value matches itself (``180.0``, ``"Acme"``, ``[billing@acme.example]``); a
mapping with one of these keys is a matcher:

- ``{exact: VALUE}``: equal to VALUE (use it for a mapping compared as it is);
- ``{regex: PATTERN}``: text in which PATTERN is found (Python ``re.search``);
- ``{min: N, max: N}``: a number in the range (either bound may be left out);
- ``{any: true}``: anything, even a missing argument;
- ``{contains: VALUE}``: a list holding VALUE, or text containing it;
- ``{one_of: [VALUES]}``: equal to one of them.

A tool call matcher names a tool (``*`` matches any run of characters, as in
policies) and matchers for some of its arguments; arguments it does not name may
have any value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator
from pydantic import model_validator as _model_validator

MATCHER_KEYS = ("exact", "regex", "min", "max", "any", "contains", "one_of")
_MISSING = object()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exact(_Strict):
    exact: Any
    """The value, compared with ``==`` (numbers compare by value: 180 == 180.0)."""


class Regex(_Strict):
    regex: str
    """A Python regular expression, searched for anywhere in the text."""

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class Range(_Strict):
    min: float | None = None
    """The smallest value that matches (inclusive)."""
    max: float | None = None
    """The largest value that matches (inclusive)."""

    @_model_validator(mode="after")
    def _possible(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("a range needs `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range can never match: min {self.min:g} > max {self.max:g}")
        return self


class AnyValue(_Strict):
    any: Literal[True]
    """``any: true`` matches every value, and a missing argument."""


class Contains(_Strict):
    contains: Any
    """An item of a list, or a piece of text."""


class OneOf(_Strict):
    one_of: list[Any] = Field(min_length=1)


def _matcher_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # already a matcher
        return _TAGS.get(type(value))
    if not isinstance(value, Mapping):
        return "value"
    keys = set(value)
    if keys and keys <= {"min", "max"}:
        return "range"
    for key in ("exact", "regex", "any", "contains", "one_of"):
        if key in keys:
            return key
    return None


_TAGS: dict[type[BaseModel], str] = {
    Exact: "exact",
    Regex: "regex",
    Range: "range",
    AnyValue: "any",
    Contains: "contains",
    OneOf: "one_of",
}

Matcher = Annotated[
    Annotated[str | int | float | bool | list[Any] | None, Tag("value")]
    | Annotated[Exact, Tag("exact")]
    | Annotated[Regex, Tag("regex")]
    | Annotated[Range, Tag("range")]
    | Annotated[AnyValue, Tag("any")]
    | Annotated[Contains, Tag("contains")]
    | Annotated[OneOf, Tag("one_of")],
    Discriminator(
        _matcher_tag,
        custom_error_type="invalid_matcher",
        custom_error_message=(
            "not a matcher: write a plain value, or a mapping with one of "
            + ", ".join(MATCHER_KEYS)
            + " (a mapping compared as it is: {exact: {...}})"
        ),
    ),
]
"""A plain value (matches itself) or one of the matcher mappings."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def matches(matcher: Any, value: Any = _MISSING) -> bool:
    """Whether ``value`` satisfies ``matcher``; leave ``value`` out for a missing one."""
    if isinstance(matcher, AnyValue):
        return True
    if value is _MISSING:
        return False
    if isinstance(matcher, Exact):
        return bool(value == matcher.exact)
    if isinstance(matcher, Regex):
        return isinstance(value, str) and re.search(matcher.regex, value) is not None
    if isinstance(matcher, Range):
        if not _is_number(value):
            return False
        low = matcher.min if matcher.min is not None else float("-inf")
        high = matcher.max if matcher.max is not None else float("inf")
        return bool(low <= value <= high)
    if isinstance(matcher, Contains):
        if isinstance(value, str):
            return isinstance(matcher.contains, str) and matcher.contains in value
        return isinstance(value, list | tuple) and matcher.contains in value
    if isinstance(matcher, OneOf):
        return value in matcher.one_of
    if _is_number(value) and _is_number(matcher):
        return bool(value == matcher)
    return type(value) is type(matcher) and bool(value == matcher)


def describe(matcher: Any) -> str:
    """A matcher in a few words, for failure messages."""
    if isinstance(matcher, BaseModel):
        data = matcher.model_dump(exclude_none=True)
        return "{" + ", ".join(f"{key}: {value!r}" for key, value in data.items()) + "}"
    return repr(matcher)


class Times(_Strict):
    min: int = Field(default=1, ge=0)
    max: int | None = Field(default=None, ge=0)

    @_model_validator(mode="after")
    def _possible(self) -> Times:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"times can never match: min {self.min} > max {self.max}")
        return self


class CallMatcher(_Strict):
    """A tool call: the tool (a name or a ``*`` pattern) and matchers for arguments."""

    tool: str = Field(min_length=1)
    args: dict[str, Matcher] = {}
    """Matchers for the arguments named; other arguments may be anything."""

    def matches(self, tool: str, args: Mapping[str, Any]) -> bool:
        if not tool_matches(self.tool, tool):
            return False
        return all(
            matches(matcher, args.get(name, _MISSING)) for name, matcher in self.args.items()
        )

    def describe(self) -> str:
        if not self.args:
            return self.tool
        shown = ", ".join(f"{name}={describe(m)}" for name, m in self.args.items())
        return f"{self.tool}({shown})"


def tool_matches(pattern: str, tool: str) -> bool:
    if "*" not in pattern:
        return pattern == tool
    return fnmatch.fnmatchcase(tool, pattern)
