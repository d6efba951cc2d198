"""OpenAPI schemas (a dialect of JSON Schema) as Python types Pydantic validates."""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from functools import reduce
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from tether.connectors.openapi._document import Document, escape

STRICT = ConfigDict(extra="forbid", populate_by_name=False, protected_namespaces=())
_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}
_NUMBER_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
}
_STRING_CONSTRAINTS = {"minLength": "min_length", "maxLength": "max_length"}
_ARRAY_CONSTRAINTS = {"minItems": "min_length", "maxItems": "max_length"}


def field_name(name: str, taken: set[str]) -> str:
    """A Python identifier for an API name (``X-Request-Id`` → ``X_Request_Id``)."""
    ident = re.sub(r"\W", "_", name).strip("_") or "arg"
    if ident[0].isdigit() or keyword.iskeyword(ident) or hasattr(BaseModel, ident):
        ident = f"{ident}_"
    candidate, n = ident, 1
    while candidate in taken:
        n += 1
        candidate = f"{ident}_{n}"
    taken.add(candidate)
    return candidate


def optional_field(annotation: Any, *, description: str | None, alias: str, default: Any) -> Any:
    """An optional field: absent means "not sent"; the API's own default is shown."""
    extra = None if default is None else {"default": default}
    return (
        annotation | None,
        Field(None, description=description, alias=alias, json_schema_extra=extra),
    )


class SchemaTypes:
    """Converts schemas of one document; nested objects become strict models."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self._resolving: list[str] = []

    def of(self, schema: Any, pointer: str, name: str) -> Any:
        """The Python type for ``schema`` found at ``pointer``; ``name`` names nested models."""
        if schema is True or schema == {}:
            return Any
        if not isinstance(schema, Mapping):
            self.document.fail(pointer, f"a schema must be a mapping, not {schema!r}")
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in self._resolving:  # a recursive schema: accept any object here
                return dict[str, Any]
            target, target_pointer = self.document.resolve(schema, pointer)
            self._resolving.append(ref)
            try:
                return self.of(target, target_pointer, name)
            finally:
                self._resolving.pop()
        base = self._base(schema, pointer, name)
        if base in (int, float):
            base = _constrained(base, schema, _NUMBER_CONSTRAINTS)
        elif base is str:
            base = _constrained(base, schema, _STRING_CONSTRAINTS)
        elif getattr(base, "__origin__", None) is list:
            base = _constrained(base, schema, _ARRAY_CONSTRAINTS)
        if schema.get("nullable") is True and base is not Any:
            base = base | None
        return base

    def _base(self, schema: Mapping[str, Any], pointer: str, name: str) -> Any:
        if "const" in schema:
            return _literal([schema["const"]])
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                self.document.fail(f"{pointer}/enum", "enum must be a non-empty list")
            return _literal(values)
        for combiner in ("oneOf", "anyOf"):
            if combiner in schema:
                members = self._members(schema, combiner, pointer)
                types = [
                    self.of(member, f"{pointer}/{combiner}/{i}", f"{name}_{i}")
                    for i, member in enumerate(members)
                ]
                return reduce(lambda a, b: a | b, types) if Any not in types else Any
        if "allOf" in schema:
            return self._all_of(schema, pointer, name)
        kind = schema.get("type")
        if isinstance(kind, list):  # OpenAPI 3.1: type: [string, "null"]
            types = [
                type(None) if k == "null" else self._typed(schema, k, pointer, name) for k in kind
            ]
            return reduce(lambda a, b: a | b, types) if types else Any
        if kind is None:
            if "properties" in schema:
                return self._typed(schema, "object", pointer, name)
            return Any
        return self._typed(schema, kind, pointer, name)

    def _members(self, schema: Mapping[str, Any], key: str, pointer: str) -> list[Any]:
        members = schema[key]
        if not isinstance(members, list) or not members:
            self.document.fail(f"{pointer}/{key}", f"{key} must be a non-empty list of schemas")
        return members

    def _typed(self, schema: Mapping[str, Any], kind: Any, pointer: str, name: str) -> Any:
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            items = schema.get("items", True)
            return list[self.of(items, f"{pointer}/items", f"{name}_item")]  # type: ignore[misc]
        if kind == "object":
            return self._object(schema, pointer, name)
        if kind == "null":
            return type(None)
        return self.document.fail(
            f"{pointer}/type",
            f"unknown schema type {kind!r}; expected string, integer, number, boolean, "
            "array, object or null",
        )

    def _object(self, schema: Mapping[str, Any], pointer: str, name: str) -> Any:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties", properties is None)
        if not properties:
            if isinstance(extra, Mapping):
                value = self.of(extra, f"{pointer}/additionalProperties", f"{name}_value")
                return dict[str, value]  # type: ignore[valid-type]
            return dict[str, Any]
        if not isinstance(properties, Mapping):
            self.document.fail(f"{pointer}/properties", "properties must be a mapping")
        return self.model(name, schema, pointer, allow_extra=extra is not False and extra != {})

    def model(
        self, name: str, schema: Mapping[str, Any], pointer: str, *, allow_extra: bool = False
    ) -> type[BaseModel]:
        """A model of an object schema's properties; unknown fields rejected unless allowed."""
        required = set(schema.get("required") or ())
        fields: dict[str, Any] = {}
        taken: set[str] = set()
        for prop, sub in schema.get("properties", {}).items():
            where = f"{pointer}/properties/{escape(str(prop))}"
            target, _ = self.document.resolve(sub, where)
            if isinstance(target, Mapping) and target.get("readOnly") is True:
                continue  # set by the server, never sent
            annotation = self.of(sub, where, f"{name}_{prop}")
            description = sub.get("description") if isinstance(sub, Mapping) else None
            ident = field_name(str(prop), taken)
            if prop in required:
                fields[ident] = (annotation, Field(description=description, alias=str(prop)))
            else:
                default = sub.get("default") if isinstance(sub, Mapping) else None
                fields[ident] = optional_field(
                    annotation, description=description, alias=str(prop), default=default
                )
        config = ConfigDict(**{**STRICT, "extra": "allow" if allow_extra else "forbid"})
        return create_model(_model_name(name), __config__=config, **fields)

    def _all_of(self, schema: Mapping[str, Any], pointer: str, name: str) -> Any:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for i, member in enumerate(self._members(schema, "allOf", pointer)):
            target, _ = self.document.resolve(member, f"{pointer}/allOf/{i}")
            if not isinstance(target, Mapping) or "properties" not in target:
                return Any  # not a plain merge of objects: let the server judge
            merged["properties"].update(target["properties"])
            merged["required"].extend(target.get("required") or ())
        return self.model(name, merged, pointer)


def _constrained(base: Any, schema: Mapping[str, Any], names: Mapping[str, str]) -> Any:
    """``base`` with the schema's limits (``minimum: 1`` → ``ge=1``) that apply to it."""
    constraints = {
        kwarg: schema[key]
        for key, kwarg in names.items()
        if isinstance(schema.get(key), int | float) and not isinstance(schema[key], bool)
    }
    return Annotated[base, Field(**constraints)] if constraints else base


def _literal(values: list[Any]) -> Any:
    if not all(isinstance(v, str | int | float | bool) or v is None for v in values):
        return Any
    return Literal[tuple(values)]


def _model_name(name: str) -> str:
    return re.sub(r"\W", "_", name)
