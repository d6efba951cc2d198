"""An MCP tool's input JSON Schema as a Pydantic arguments model (unknown fields rejected).

Covers what tool schemas use in practice: ``type`` (one or a list), ``enum``/``const``,
``anyOf``/``oneOf``, arrays of items, local ``$ref``; nested objects are plain dicts (the
server validates their insides). Anything else is accepted as is: the server has the
last word on its own arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

_SCALARS: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
    "object": dict[str, Any],
}
_MAX_DEPTH = 8


@dataclass(frozen=True, kw_only=True)
class ArgumentsModel:
    """The model, and how its field names map back to the server's argument names."""

    model: type[BaseModel]
    """Validates the arguments; its JSON Schema uses the server's names."""
    wire_names: dict[str, str]
    """Field name -> the argument's name in the MCP call."""
    omit_if_none: frozenset[str]
    """Fields that are optional without a default: not sent when left unset (None)."""

    def to_wire(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validated values as the server's arguments."""
        return {
            self.wire_names[name]: value
            for name, value in values.items()
            if not (value is None and name in self.omit_if_none)
        }


def arguments_model(model_name: str, schema: Mapping[str, Any]) -> ArgumentsModel:
    """The arguments model for an object schema."""
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    fields: dict[str, Any] = {}
    wire_names: dict[str, str] = {}
    omit: set[str] = set()
    for index, (wire_name, raw) in enumerate(properties.items()):
        prop: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        name = _field_name(wire_name, index, taken=set(properties) | set(wire_names))
        wire_names[name] = wire_name
        annotation = _annotation(prop, defs, 0)
        extra: dict[str, Any] = {}
        if name != wire_name:
            extra["alias"] = wire_name
        if isinstance(prop.get("description"), str):
            extra["description"] = prop["description"]
        if wire_name in required:
            fields[name] = (annotation, Field(..., **extra))
        elif "default" in prop:
            fields[name] = (annotation, Field(prop["default"], **extra))
        else:
            omit.add(name)
            fields[name] = (annotation | None, Field(None, **extra))
    model = create_model(
        model_name,
        __config__=ConfigDict(extra="forbid", populate_by_name=False, protected_namespaces=()),
        **fields,
    )
    return ArgumentsModel(model=model, wire_names=wire_names, omit_if_none=frozenset(omit))


def _field_name(wire_name: str, index: int, *, taken: set[str]) -> str:
    """The argument's own name where Pydantic allows it (``from``, ``x-y`` are fine).

    A name with a leading underscore or one of BaseModel's attributes (``json``,
    ``copy``) gets a trailing underscore instead (``json_``); the model's JSON Schema
    and the call still use the server's name.
    """
    if _usable(wire_name):
        return wire_name
    candidate = wire_name.lstrip("_") + "_"
    return candidate if _usable(candidate) and candidate not in taken else f"arg_{index}"


def _usable(name: str) -> bool:
    return bool(name) and not name.startswith("_") and not hasattr(BaseModel, name)


def _annotation(schema: Any, defs: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return Any
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(ref, defs)
        return _annotation(target, defs, depth + 1) if target is not None else Any
    if "const" in schema and _literal_ok([schema["const"]]):
        return Literal[schema["const"]]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and _literal_ok(enum):
        return Literal[tuple(enum)]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _union([_annotation(option, defs, depth + 1) for option in options])
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([_annotation({**schema, "type": one}, defs, depth + 1) for one in kind])
    if kind == "array":
        return list[_annotation(schema.get("items"), defs, depth + 1)]  # type: ignore[misc]
    if isinstance(kind, str) and kind in _SCALARS:
        return _SCALARS[kind]
    return Any


def _union(annotations: list[Any]) -> Any:
    if any(annotation is Any for annotation in annotations):
        return Any
    unique = list(dict.fromkeys(annotations))
    return unique[0] if len(unique) == 1 else Union[tuple(unique)]  # noqa: UP007


def _literal_ok(values: list[Any]) -> bool:
    return all(isinstance(value, str | int | bool) or value is None for value in values)


def _resolve(ref: str, defs: Mapping[str, Any]) -> Any:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            return defs.get(ref[len(prefix) :])
    return None
