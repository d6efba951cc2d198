"""A Pydantic validation error of a YAML file, as problems a person can act on.

Each problem names the path of the offending key in the file (for its line, see
:func:`tether.policy.line_of`) and says what is wrong in words: a missing key, an
unknown one with the keys allowed there (and the likely one meant), a bad value with
what was given. No Pydantic dump, no ``input_value`` of a whole section.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from tether.policy._yaml import Path_

_SHOWN_VALUE_CHARS = 60


def schema_problems(
    exc: ValidationError, data: Any, model: type[BaseModel]
) -> list[tuple[Path_, str]]:
    """The problems of ``exc`` (raised validating ``data`` as ``model``), each with
    the path in ``data`` it is about; a union's branches complain once, by the deepest,
    and a validator's own message (a ``value_error``) wins over another branch's type
    error at the same path."""
    found: dict[Path_, list[str]] = {}
    specific: set[Path_] = set()
    for error in exc.errors():
        names_key = error["type"] in ("missing", "extra_forbidden")
        path = _data_path(error["loc"], data, names_key=names_key)
        if error["type"] == "value_error":  # tether's own checks say what is wrong…
            if path not in specific:
                found[path] = []
            specific.add(path)
        elif path in specific:  # …better than another union branch's type error
            continue
        found.setdefault(path, []).append(_message(error, path, model))
    problems: list[tuple[Path_, str]] = []
    for path, messages in found.items():
        if any(other[: len(path)] == path and other != path for other in found):
            continue
        problems.extend((path, message) for message in dict.fromkeys(messages))
    return problems


def _message(error: Any, path: Path_, model: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        key = str(path[-1])
        allowed = allowed_keys(model, path[:-1])
        guess = [name for name in allowed if name.startswith(key) or key.startswith(name)]
        guess = guess or difflib.get_close_matches(key, allowed, n=1)
        meant = f"did you mean {guess[0]!r}? " if guess else ""
        return f"unknown key {key!r}; {meant}allowed here: {', '.join(allowed)}"
    if error["type"] == "missing":
        return f"missing required key {path[-1]!r}"
    where = ".".join(str(part) for part in path) or "the file"
    reason = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if isinstance(given, str | int | float | bool) and not isinstance(given, dict):
        shown = repr(given)
        if len(shown) <= _SHOWN_VALUE_CHARS:
            return f"{where}: {reason} (given: {shown})"
    return f"{where}: {reason}"


def _data_path(loc: tuple[int | str, ...], data: Any, *, names_key: bool) -> Path_:
    """The part of a Pydantic error location that names real keys (drops union tags)."""
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


def allowed_keys(model: type[BaseModel], path: Path_) -> list[str]:
    """The keys ``model``'s schema allows at ``path`` (a mapping in the file)."""
    current: Any = model
    for part in path:
        if _is_model(current):
            fields = current.model_fields
            current = fields[part].annotation if part in fields else None
        else:
            current = _models_in(current)  # the part was a dict key or a list index
    current = _models_in(current)
    return sorted(current.model_fields) if _is_model(current) else []


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _models_in(annotation: Any) -> Any:
    """The BaseModel inside ``list[X]``, ``dict[str, X]``, ``X | None`` and the like."""
    if _is_model(annotation):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return annotation
    for arg in reversed(typing.get_args(annotation)):
        inner = _models_in(arg)
        if _is_model(inner):
            return inner
    return None
