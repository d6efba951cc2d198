"""The operations of an OpenAPI document: what each takes and how it is classified."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.connectors.openapi._document import Document, escape
from tether.tools import Effect

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
READ_METHODS = frozenset({"get", "head", "options", "trace"})
IDEMPOTENT_METHODS = frozenset({"get", "head", "options", "trace", "put", "delete"})
LOCATIONS = ("path", "query", "header", "cookie")
# Set by the HTTP client itself; the OpenAPI specification says to ignore them as parameters.
IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})


@dataclass(frozen=True, kw_only=True)
class Parameter:
    """A path, query, header or cookie parameter."""

    name: str
    location: str
    required: bool
    schema: Any
    description: str | None
    pointer: str
    style: str = "form"
    """How a query array or object is serialized (``form``, ``spaceDelimited``, ``deepObject``…)."""
    explode: bool = True
    """Arrays and objects as repeated parameters (``?tag=a&tag=b``), not one joined value."""


@dataclass(frozen=True, kw_only=True)
class Body:
    """A JSON (or form) request body."""

    media_type: str
    schema: Any
    required: bool
    description: str | None
    pointer: str


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One operation: a method on a path."""

    method: str
    path: str
    operation_id: str | None
    name: str
    """The tool name without the prefix: the operationId, or a slug of method and path."""
    description: str
    parameters: tuple[Parameter, ...]
    body: Body | None
    effect: Effect
    resource: str | None
    untrusted: bool
    servers: Any
    """The operation's own ``servers`` (or its path item's), if any."""
    pointer: str


def operations(document: Document) -> list[Operation]:
    """Every operation in the document, in document order."""
    found: list[Operation] = []
    for path, raw_item in document.data["paths"].items():
        item_pointer = f"#/paths/{escape(str(path))}"
        if str(path).startswith("x-"):
            continue  # an extension, not a path
        if not str(path).startswith("/"):
            document.fail(item_pointer, f"path {path!r} must start with '/'")
        item, _ = document.resolve(raw_item, item_pointer)
        if not isinstance(item, Mapping):
            document.fail(item_pointer, "a path item must be a mapping")
        for method in METHODS:
            if method in item:
                found.append(_operation(document, str(path), method, item, item_pointer))
    return found


def _operation(
    document: Document, path: str, method: str, item: Mapping[str, Any], item_pointer: str
) -> Operation:
    pointer = f"{item_pointer}/{method}"
    op = item[method]
    if not isinstance(op, Mapping):
        document.fail(pointer, "an operation must be a mapping")
    operation_id = op.get("operationId")
    if operation_id is not None and not isinstance(operation_id, str):
        document.fail(f"{pointer}/operationId", "operationId must be a string")
    parameters = _parameters(document, item, op, item_pointer, pointer)
    _check_path_template(document, path, parameters, pointer)
    summary, details = op.get("summary") or "", op.get("description") or ""
    description = "\n\n".join(part for part in (summary, details) if part) or (
        f"{method.upper()} {path}"
    )
    if op.get("deprecated") is True:
        description = f"(Deprecated.) {description}"
    return Operation(
        method=method,
        path=path,
        operation_id=operation_id,
        name=_name(operation_id, method, path),
        description=f"{description}\n\n(HTTP {method.upper()} {path})",
        parameters=tuple(parameters),
        body=_body(document, op, pointer),
        effect=_effect(document, method, op, item, pointer),
        resource=_extension(document, "x-tether-resource", (op, item, document.data), pointer),
        untrusted=op.get("x-tether-untrusted", document.data.get("x-tether-untrusted")) is True,
        servers=op.get("servers", item.get("servers")),
        pointer=pointer,
    )


def _name(operation_id: str | None, method: str, path: str) -> str:
    if operation_id:
        return re.sub(r"[^A-Za-z0-9_-]", "_", operation_id)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method}_{slug}" if slug else method


def _parameters(
    document: Document,
    item: Mapping[str, Any],
    op: Mapping[str, Any],
    item_pointer: str,
    pointer: str,
) -> list[Parameter]:
    merged: dict[tuple[str, str], Parameter] = {}
    for where, source in ((item_pointer, item), (pointer, op)):
        raw = source.get("parameters", [])
        if not isinstance(raw, list):
            document.fail(f"{where}/parameters", "parameters must be a list")
        for i, entry in enumerate(raw):
            parameter = _parameter(document, entry, f"{where}/parameters/{i}")
            merged[parameter.name, parameter.location] = parameter  # the operation's wins
    return [
        p
        for p in merged.values()
        if not (p.location == "header" and p.name.lower() in IGNORED_HEADERS)
    ]


def _parameter(document: Document, entry: Any, pointer: str) -> Parameter:
    raw, pointer = document.resolve(entry, pointer)
    if not isinstance(raw, Mapping):
        document.fail(pointer, "a parameter must be a mapping")
    name, location = raw.get("name"), raw.get("in")
    if not isinstance(name, str) or not name:
        document.fail(pointer, "parameter has no name")
    if location not in LOCATIONS:
        document.fail(
            pointer,
            f"parameter {name!r} is `in: {location}`; expected one of {', '.join(LOCATIONS)}",
        )
    schema = raw.get("schema")
    if schema is None:
        content = raw.get("content")
        media = next(iter(content.values())) if isinstance(content, Mapping) else None
        if isinstance(content, Mapping) and len(content) == 1 and isinstance(media, Mapping):
            schema = media.get("schema", True)
        else:
            document.fail(
                pointer, f"parameter {name!r} has no schema: give it `schema: {{type: ...}}`"
            )
    if location == "path" and raw.get("required") is not True:
        document.fail(pointer, f"path parameter {name!r} must have `required: true`")
    style = raw.get("style", "form" if location in ("query", "cookie") else "simple")
    return Parameter(
        name=name,
        location=location,
        required=raw.get("required") is True,
        schema=schema,
        description=raw.get("description"),
        pointer=pointer,
        style=str(style),
        explode=raw.get("explode", style == "form") is True,
    )


def _check_path_template(
    document: Document, path: str, parameters: list[Parameter], pointer: str
) -> None:
    declared = {p.name for p in parameters if p.location == "path"}
    used = set(re.findall(r"{([^}/]+)}", path))
    if missing := sorted(used - declared):
        document.fail(pointer, f"path parameter {missing[0]!r} of {path} is not declared")
    if unused := sorted(declared - used):
        document.fail(pointer, f"path parameter {unused[0]!r} does not appear in {path}")


def _body(document: Document, op: Mapping[str, Any], pointer: str) -> Body | None:
    if "requestBody" not in op:
        return None
    raw, body_pointer = document.resolve(op["requestBody"], f"{pointer}/requestBody")
    content = raw.get("content") if isinstance(raw, Mapping) else None
    if not isinstance(content, Mapping) or not content:
        document.fail(body_pointer, "requestBody has no `content`")
    media_type = next((m for m in content if _is_json(m)), None) or next(
        (m for m in content if m == "application/x-www-form-urlencoded"), None
    )
    if media_type is None:
        document.fail(
            f"{body_pointer}/content",
            f"request body types {', '.join(content)} are not supported (only JSON and "
            "form-urlencoded): leave the operation out with settings.exclude",
        )
    media = content[media_type]
    return Body(
        media_type=media_type,
        schema=media.get("schema", True) if isinstance(media, Mapping) else True,
        required=raw.get("required") is True,
        description=raw.get("description"),
        pointer=f"{body_pointer}/content/{escape(media_type)}/schema",
    )


def _is_json(media_type: str) -> bool:
    main = media_type.split(";", maxsplit=1)[0].strip().lower()
    return main == "application/json" or main.endswith("+json")


def _effect(
    document: Document, method: str, op: Mapping[str, Any], item: Mapping[str, Any], pointer: str
) -> Effect:
    default = Effect.READ if method in READ_METHODS else Effect.WRITE
    stated = _extension(document, "x-tether-effect", (op, item, document.data), pointer)
    if stated is None:
        return default
    try:
        return Effect(stated)
    except ValueError:
        document.fail(
            pointer,
            f"x-tether-effect {stated!r} is not an effect class; use one of "
            + ", ".join(effect.value for effect in Effect),
        )


def _extension(
    document: Document, key: str, sources: tuple[Mapping[str, Any], ...], pointer: str
) -> str | None:
    for source in sources:
        value = source.get(key)
        if value is not None:
            if not isinstance(value, str):
                document.fail(pointer, f"{key} must be a string, not {value!r}")
            return value
    return None


def getter_for(operation: Operation, found: list[Operation]) -> tuple[Operation, str | None] | None:
    """The GET that reads back what ``operation`` changed, and (for a create) the path
    parameter the new resource's id fills: a GET on the same path (PUT, PATCH, DELETE),
    or for a POST a GET on the path plus one ``/{id}`` segment. None when there is none."""
    if operation.method in READ_METHODS:
        return None
    gets = [op for op in found if op.method == "get"]
    if operation.method != "post":  # a POST's own path is the collection, not the resource
        same = [op for op in gets if op.path == operation.path]
        return (same[0], None) if same else None
    base = operation.path.rstrip("/")
    for op in gets:
        match = re.fullmatch(re.escape(base) + r"/\{([^}/]+)\}", op.path)
        if match:
            return op, match.group(1)
    return None
