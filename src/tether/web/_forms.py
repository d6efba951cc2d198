"""The edit form of an approval, generated from the tool's argument schema.

Each argument becomes a field of the kind its JSON Schema calls for. An argument whose
value is a secret or redacted personal data is shown as redacted and cannot be edited
(its value never reaches the page). What comes back is converted by the same schema;
only the arguments that changed are sent to the approvals service as the edit, where
the tool's model and the gate check the edited call again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tether.tools import Tool

FieldKind = Literal["text", "textarea", "number", "integer", "checkbox", "select", "lines", "json"]
PREFIX = "arg."
"""Form fields of arguments are named ``arg.<name>``."""
_LONG_TEXT = 200


class FormError(ValueError):
    """A submitted value does not fit its argument's type."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@dataclass(frozen=True, kw_only=True)
class FormField:
    name: str
    kind: FieldKind
    value: str
    """The current value as the input shows it."""
    required: bool
    editable: bool
    """False for secrets and redacted values: shown as redacted, never sent."""
    description: str = ""
    options: tuple[str, ...] = ()
    attrs: dict[str, str] = field(default_factory=dict)
    """HTML validation attributes (min, max, maxlength…)."""

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def _branch(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The schema of the value, and whether null is allowed (``X | None``)."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        concrete = [item for item in options if item.get("type") != "null"]
        if len(concrete) == 1:
            return {**schema, **concrete[0]}, len(concrete) < len(options)
    return schema, False


def _kind(schema: Mapping[str, Any]) -> FieldKind:
    if "enum" in schema:
        return "select"
    kind = schema.get("type")
    if kind == "string":
        return "textarea" if int(schema.get("maxLength", 0)) > _LONG_TEXT else "text"
    if kind in ("number", "integer"):
        return "integer" if kind == "integer" else "number"
    if kind == "boolean":
        return "checkbox"
    if kind == "array" and schema.get("items", {}).get("type") in ("string", "integer", "number"):
        return "lines"
    return "json"


def _attrs(schema: Mapping[str, Any]) -> dict[str, str]:
    names = {
        "minimum": "min",
        "maximum": "max",
        "minLength": "minlength",
        "maxLength": "maxlength",
    }
    return {html: str(schema[key]) for key, html in names.items() if key in schema}


def _shown(kind: FieldKind, value: Any) -> str:
    if value is None:
        return ""
    if kind == "lines":
        return "\n".join(str(item) for item in value)
    if kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if kind == "checkbox":
        return "on" if value else ""
    return str(value)


def fields_for(tool: Tool, args: Mapping[str, Any], shown: Mapping[str, Any]) -> list[FormField]:
    """One field per argument, in the schema's order."""
    schema = tool.json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, raw in schema.get("properties", {}).items():
        prop, nullable = _branch(raw)
        kind = _kind(prop)
        current = args.get(name)
        if kind == "text" and isinstance(current, str) and ("\n" in current or len(current) > 80):
            kind = "textarea"  # a long or multi-line text, though its schema sets no limit
        secret = name in tool.secret_args or shown.get(name) != args.get(name)
        fields.append(
            FormField(
                name=name,
                kind=kind,
                value=_shown(kind, shown.get(name)) if secret else _shown(kind, args.get(name)),
                required=name in required and not nullable,
                editable=not secret,
                description=str(prop.get("description", "")),
                options=tuple(str(option) for option in prop.get("enum", ())),
                attrs=_attrs(prop),
            )
        )
    return fields


def _convert(item: FormField, text: str | None) -> Any:
    if item.kind == "checkbox":
        return text is not None
    text = "" if text is None else text
    if text.strip() == "" and item.kind not in ("text", "textarea"):
        return None
    if item.kind == "integer":
        try:
            return int(text.strip())
        except ValueError:
            raise FormError(item.name, f"{text!r} is not a whole number") from None
    if item.kind == "number":
        try:
            return float(text.strip())
        except ValueError:
            raise FormError(item.name, f"{text!r} is not a number") from None
    if item.kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if item.kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormError(item.name, f"not valid JSON: {exc.msg}") from None
    return text.replace("\r\n", "\n")


def edited_args(
    tool: Tool, args: Mapping[str, Any], shown: Mapping[str, Any], form: Mapping[str, Any]
) -> dict[str, Any]:
    """The arguments the form changes (empty if none): only editable fields count, and
    only those the form holds."""
    changes: dict[str, Any] = {}
    for item in fields_for(tool, args, shown):
        if not item.editable:
            continue
        raw = form.get(item.input_name)
        if not isinstance(raw, str) and item.kind != "checkbox":
            continue  # not in the form: unchanged (an unticked checkbox is absent: False)
        value = _convert(item, raw if isinstance(raw, str) else None)
        if item.kind == "lines" and isinstance(args.get(item.name), list):
            current = [str(v) for v in args[item.name]]
            if value == current:
                continue
        if value == "" and args.get(item.name) is None:
            continue
        if value != args.get(item.name):
            changes[item.name] = value
    return changes
