"""Reading an OpenAPI document and following its local ``$ref``s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote

import yaml

from tether.connectors.openapi._errors import OpenAPIDocumentError


def escape(token: str) -> str:
    """One JSON pointer token (``/parties/{id}`` → ``~1parties~1{id}``)."""
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Document:
    """A parsed OpenAPI 3 document and the name of the file it came from."""

    data: Mapping[str, Any]
    """The whole document."""
    file: str
    """Where it was read from, for error messages."""

    def fail(self, pointer: str, problem: str) -> NoReturn:
        raise OpenAPIDocumentError(self.file, pointer, problem)

    def resolve(self, node: Any, pointer: str) -> tuple[Any, str]:
        """``node`` with its ``$ref`` chain followed: the target and its pointer."""
        seen: list[str] = []
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                self.fail(pointer, f"$ref must be a string, not {ref!r}")
            if ref in seen:
                self.fail(pointer, f"$ref cycle: {' -> '.join([*seen, ref])}")
            seen.append(ref)
            node, pointer = self.lookup(ref, pointer), ref
        return node, pointer

    def lookup(self, ref: str, pointer: str) -> Any:
        if not ref.startswith("#"):
            self.fail(
                pointer,
                f"$ref {ref!r} points outside this document; only local references "
                "(#/components/...) are supported: bundle the document first",
            )
        node: Any = self.data
        for raw in unquote(ref[1:]).split("/")[1:]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                self.fail(pointer, f"$ref {ref!r} does not resolve: no {token!r} in the document")
        return node


def read_document(path: Path) -> Document:
    """Parse and check the top of an OpenAPI 3.0/3.1 document (JSON or YAML)."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OpenAPIDocumentError(
            file, "", f"cannot be read ({exc.strerror or exc}); check settings.document"
        ) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise OpenAPIDocumentError(file, "", f"is not valid JSON or YAML: {exc}") from None
    document = Document(data=data if isinstance(data, Mapping) else {}, file=file)
    if not isinstance(data, Mapping):
        document.fail("#", f"must be a mapping at the top level, not {type(data).__name__}")
    if "swagger" in data:
        document.fail("#/swagger", "Swagger 2.0 is not supported: convert it to OpenAPI 3")
    version = data.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        document.fail("#/openapi", f"must be an OpenAPI 3.0 or 3.1 version string, not {version!r}")
    paths = data.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        document.fail("#/paths", "has no operations: add a non-empty `paths` mapping")
    return document
