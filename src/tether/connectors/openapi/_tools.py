"""One tether tool per operation: an arguments model and a function that sends the request."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field, create_model

from tether.connectors.openapi._document import Document
from tether.connectors.openapi._http import Endpoint, Request
from tether.connectors.openapi._operations import (
    IDEMPOTENT_METHODS,
    READ_METHODS,
    Body,
    Operation,
    Parameter,
)
from tether.connectors.openapi._schema import STRICT, SchemaTypes, field_name, optional_field
from tether.errors import ToolCallError
from tether.tools import Effect, ReadBack, Tool, ToolContext

BODY = "body"
"""The argument holding the request body when its properties cannot be arguments themselves."""


@dataclass(frozen=True, kw_only=True)
class _Slot:
    """Where one argument goes in the request."""

    field: str
    """The argument's Python name, which validated arguments are keyed by."""
    name: str
    """Its name in the API, which the tool's schema shows the model."""
    location: str
    """``path``, ``query``, ``header``, ``cookie``, ``body`` (one property) or ``whole-body``."""
    style: str = "form"
    """How a query array or object is serialized."""
    explode: bool = True
    """Arrays and objects as repeated query parameters."""


@dataclass(frozen=True, kw_only=True)
class ToolOptions:
    """What applies to every tool of one connector."""

    prefix: str
    endpoint: Endpoint
    idempotency_header: str | None
    reserved_headers: frozenset[str]
    """Header names (lowercase) the connector sets itself: credentials."""
    reserved_query: frozenset[str]
    """Query parameter names the connector sets itself: credentials."""
    untrusted_output: bool


def build_tool(
    document: Document,
    operation: Operation,
    options: ToolOptions,
    effect: Effect,
    *,
    getter: tuple[Operation, str | None] | None = None,
) -> Tool:
    """The tool of ``operation``; ``getter`` (see ``getter_for``) reads back what it changed."""
    name = f"{options.prefix}.{operation.name}"
    args_model, slots = _arguments(document, operation, options, name)
    send = _sender(name, operation, slots, options)
    preview = None if operation.method in READ_METHODS else _previewer(operation, slots, options)
    read_back = None if getter is None else _reader(name, operation, getter, slots, options)
    return Tool(
        name=name,
        function=send,
        description=operation.description,
        effect=effect,
        args_model=args_model,
        resource=operation.resource,
        idempotent=operation.method in IDEMPOTENT_METHODS,
        untrusted_output=options.untrusted_output or operation.untrusted,
        context_param="_context",
        preview=preview,
        read_back=read_back,
    )


def _arguments(
    document: Document, operation: Operation, options: ToolOptions, name: str
) -> tuple[type[BaseModel], list[_Slot]]:
    builder = _Arguments(document, name)
    reserved_query = {r.lower() for r in options.reserved_query}
    for parameter in operation.parameters:
        reserved = options.reserved_headers if parameter.location == "header" else reserved_query
        if parameter.location in ("header", "query") and parameter.name.lower() in reserved:
            continue  # the connector sends this credential itself
        builder.parameter(parameter)
    if operation.body is not None:
        builder.body(operation.body)
    model_name = re.sub(r"\W", "_", name) + "_args"
    return create_model(model_name, __config__=STRICT, **builder.fields), builder.slots


class _Arguments:
    """Collects one operation's arguments and where each goes."""

    def __init__(self, document: Document, name: str) -> None:
        self.document = document
        self.name = name
        self.types = SchemaTypes(document)
        self.fields: dict[str, Any] = {}
        self.slots: list[_Slot] = []
        self.taken: set[str] = set()

    def parameter(self, parameter: Parameter) -> None:
        annotation = self.types.of(
            parameter.schema, f"{parameter.pointer}/schema", f"{self.name}_{parameter.name}"
        )
        ident = field_name(parameter.name, self.taken)
        if parameter.required:
            self.fields[ident] = (
                annotation,
                Field(description=parameter.description, alias=parameter.name),
            )
        else:
            schema = parameter.schema
            default = schema.get("default") if isinstance(schema, Mapping) else None
            self.fields[ident] = optional_field(
                annotation, description=parameter.description, alias=parameter.name, default=default
            )
        self.slots.append(
            _Slot(
                field=ident,
                name=parameter.name,
                location=parameter.location,
                style=parameter.style,
                explode=parameter.explode,
            )
        )

    def body(self, body: Body) -> None:
        schema, pointer = self.document.resolve(body.schema, body.pointer)
        if self._flattens(schema):
            self._flat_body(schema, pointer, required=body.required)
            return
        annotation = self.types.of(body.schema, body.pointer, f"{self.name}_body")
        ident = field_name(BODY, self.taken)
        description = body.description or "The request body."
        if body.required:
            self.fields[ident] = (annotation, Field(description=description))
        else:
            self.fields[ident] = (_nullable(annotation), Field(None, description=description))
        self.slots.append(_Slot(field=ident, name=BODY, location="whole-body"))

    def _flattens(self, schema: Any) -> bool:
        """An object body with named properties becomes one argument per property."""
        if not isinstance(schema, Mapping):
            return False
        properties = schema.get("properties")
        return (
            isinstance(properties, Mapping)
            and bool(properties)
            and not any(key in ("allOf", "oneOf", "anyOf") for key in schema)
            and schema.get("additionalProperties") in (None, False)
            and not {slot.name for slot in self.slots} & set(properties)
        )

    def _flat_body(self, schema: Mapping[str, Any], pointer: str, *, required: bool) -> None:
        model = self.types.model(f"{self.name}_body", schema, pointer)
        for ident, info in model.model_fields.items():
            here = field_name(ident, self.taken)
            alias = info.alias or ident
            if info.is_required() and required:
                self.fields[here] = (
                    info.annotation,
                    Field(description=info.description, alias=alias),
                )
            else:
                annotation = (
                    info.annotation if not info.is_required() else _nullable(info.annotation)
                )
                self.fields[here] = (
                    annotation,
                    Field(
                        None,
                        description=info.description,
                        alias=alias,
                        json_schema_extra=info.json_schema_extra,
                    ),
                )
            self.slots.append(_Slot(field=here, name=alias, location="body"))


def _sender(name: str, operation: Operation, slots: list[_Slot], options: ToolOptions) -> Any:
    async def send(_context: ToolContext, **args: Any) -> Any:
        try:
            request = _request(operation, slots, args, options, _context)
        except ValueError as exc:
            raise ToolCallError(name, str(exc)) from None
        return await options.endpoint.send(name, request)

    send.__name__ = send.__qualname__ = name.replace(".", "_")
    return send


def _previewer(operation: Operation, slots: list[_Slot], options: ToolOptions) -> Any:
    """A dry run for approvers: the request exactly as it would be sent, credentials withheld."""
    context = ToolContext(run_id="", call_id="", idempotency_key="(this call's key)")

    def preview(**args: Any) -> str:
        request = _request(operation, slots, args, options, context)
        query = urlencode(request.query)
        lines = [f"{request.method.upper()} {options.endpoint.base_url}{request.path}"]
        lines[0] += f"?{query}" if query else ""
        headers = {**options.endpoint.headers, **request.headers}
        headers.pop("Accept", None)
        lines += [f"{key}: {value}" for key, value in headers.items()]
        lines += [
            f"{key}: (added by the connector)" for key in options.endpoint.credentials.headers
        ]
        lines += [
            f"(query parameter {key} added by the connector)"
            for key in options.endpoint.credentials.query
        ]
        if request.json_body is not None:
            lines += ["", json.dumps(request.json_body, ensure_ascii=False, indent=2)]
        elif request.form_body is not None:
            lines += ["", urlencode(request.form_body)]
        return "\n".join(lines)

    return preview


_GONE = re.compile(r" answered (404|410)\b")


def _reader(
    name: str,
    operation: Operation,
    getter: tuple[Operation, str | None],
    slots: list[_Slot],
    options: ToolOptions,
) -> ReadBack:
    """GET the resource again after the change: it should hold what was sent (or, after
    a DELETE, be gone)."""
    get, created_param = getter
    context = ToolContext(run_id="", call_id="", idempotency_key="")
    path_args = {s.name: s.field for s in slots if s.location == "path"}
    deleting = operation.method == "delete"

    def path_of(args: dict[str, Any], answer: Any) -> str:
        path = get.path
        for param in re.findall(r"\{([^}/]+)\}", get.path):
            if param == created_param:
                if not isinstance(answer, Mapping):
                    raise ValueError("the answer is not an object: no id to read back")
                value = answer.get(param, answer.get("id"))
            else:
                value = args.get(path_args.get(param, param))
            if value is None:
                raise ValueError(f"no value for {param!r} to read the resource back")
            path = path.replace(f"{{{param}}}", _segment(param, _plain(value)))
        return path

    async def after(args: dict[str, Any], answer: Any) -> Any:
        request = Request(
            method="get",
            path=path_of(args, answer),
            query=[],
            headers={"Accept": "application/json, text/*;q=0.9, */*;q=0.1"},
            quote_errors=False,
        )
        try:
            found = await options.endpoint.send(name, request)
        except ToolCallError as exc:
            if deleting and _GONE.search(exc.message):
                return {"exists": False}
            raise
        return {"exists": True, "resource": found} if deleting else found

    def expect(args: dict[str, Any], _answer: Any) -> Any:
        if deleting:
            return {"exists": False}
        sent = _request(operation, slots, args, options, context).json_body
        return sent if isinstance(sent, Mapping) else {}

    return ReadBack(
        after=after,
        expect=expect,
        system=f"{options.endpoint.base_url}{get.path}",
    )


def _request(
    operation: Operation,
    slots: list[_Slot],
    args: Mapping[str, Any],
    options: ToolOptions,
    context: ToolContext,
) -> Request:
    path = operation.path
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {"Accept": "application/json, text/*;q=0.9, */*;q=0.1"}
    cookies: list[str] = []
    body: dict[str, Any] = {}
    whole: Any = None
    for slot in slots:
        value = _plain(args.get(slot.field))
        if value is None:
            continue
        if slot.location == "path":
            path = path.replace(f"{{{slot.name}}}", _segment(slot.name, value))
        elif slot.location == "query":
            query.extend(_query_pairs(slot, value))
        elif slot.location == "header":
            headers[slot.name] = _header(slot.name, value)
        elif slot.location == "cookie":
            cookies.append(f"{slot.name}={quote(_scalar(value), safe='')}")
        elif slot.location == "body":
            body[slot.name] = value
        else:
            whole = value
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    if options.idempotency_header and operation.method not in READ_METHODS:
        headers[options.idempotency_header] = context.idempotency_key
    required = operation.body is not None and operation.body.required
    flat = any(slot.location == "body" for slot in slots)
    payload = whole if whole is not None else (body if body or (flat and required) else None)
    media_type = operation.body.media_type if operation.body else "application/json"
    form = payload is not None and media_type == "application/x-www-form-urlencoded"
    if payload is not None and not form:
        headers["Content-Type"] = media_type
    return Request(
        method=operation.method,
        path=path,
        query=query,
        headers=headers,
        json_body=None if form else payload,
        form_body=payload if form else None,
        quote_errors=not (options.untrusted_output or operation.untrusted),
    )


def _plain(value: Any) -> Any:
    """Validated arguments as JSON data: nested models as dicts, absent fields left out."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _segment(name: str, value: Any) -> str:
    """A path parameter's value as one path segment: it cannot reach another path."""
    text = _scalar(value)
    if text in ("", ".", ".."):
        raise ValueError(f"path parameter {name!r} cannot be {text!r}")
    return quote(text, safe="")


def _header(name: str, value: Any) -> str:
    """A header parameter's value: one line, or it could add headers of its own."""
    text = _scalar(value)
    if any(char in text for char in "\r\n\0"):
        raise ValueError(f"header parameter {name!r} cannot contain line breaks")
    return text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_scalar(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key},{_scalar(item)}" for key, item in value.items())
    return str(value)


_DELIMITERS = {"spaceDelimited": " ", "pipeDelimited": "|"}


def _query_pairs(slot: _Slot, value: Any) -> list[tuple[str, str]]:
    """A query parameter in its OpenAPI style; by default form, exploded (``?tag=a&tag=b``)."""
    name = slot.name
    if isinstance(value, dict) and slot.style == "deepObject":
        return [(f"{name}[{key}]", _scalar(item)) for key, item in value.items()]
    if isinstance(value, list) and slot.explode:
        return [(name, _scalar(item)) for item in value]
    if isinstance(value, list):
        return [(name, _DELIMITERS.get(slot.style, ",").join(_scalar(item) for item in value))]
    if isinstance(value, dict) and slot.explode:
        return [(key, _scalar(item)) for key, item in value.items()]
    return [(name, _scalar(value))]


def _nullable(annotation: Any) -> Any:
    return annotation | None
