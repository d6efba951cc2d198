"""The policy's ``tools:`` section: classifying tools the policy does not own.

A tool declares its effect, untrusted fields, vouching, address and secret
arguments in code; a policy may set what a tool leaves open (a third-party library
wrapped without code, an MCP server's tools), so that the policy version covers
it. What the tool declares itself may not be contradicted (a load error with the
line; an effect may be raised, never lowered), except for a tool whose declarations
are only guesses (``effect_from_policy``: an unclassified MCP or OpenAPI tool), which
the policy classifies.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from tether.policy._spec import PolicySpec, ToolClassSpec
from tether.policy._yaml import Path_
from tether.tools import Effect, Tool, Toolset

_ARG_KEYS = ("vouches_args", "targets", "recipients", "secret_args")
_FIELD_KEYS = ("untrusted_fields", "vouches")


class _Reporter(Protocol):
    def problem(self, path: Path_, message: str) -> None: ...


class Classifier:
    """Applies a policy's ``tools:`` section to the tools it was given."""

    def __init__(self, reporter: _Reporter, tools: Toolset) -> None:
        self.reporter = reporter
        self.tools = tools
        self.classified: dict[str, tuple[str, ...]] = {}

    def apply(self, spec: PolicySpec) -> Toolset:
        if not spec.tools:
            return self.tools
        changed: dict[str, Tool] = {}
        for name, entry in spec.tools.items():
            path: Path_ = ("tools", name)
            if name not in self.tools:
                known = ", ".join(self.tools.names()) or "(none)"
                self.reporter.problem(
                    path,
                    f"the tools section classifies {name!r}, which is not a known tool "
                    f"(write its exact name; known tools: {known})",
                )
                continue
            tool = self.tools.get(name)
            changes = self._changes(tool, entry, path)
            if changes:
                changed[name] = dataclasses.replace(tool, **changes)
                self.classified[name] = tuple(sorted(entry.model_fields_set))
        if not changed:
            return self.tools
        return Toolset(changed.get(tool.name, tool) for tool in self.tools)

    def _changes(self, tool: Tool, entry: ToolClassSpec, path: Path_) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        guessed = tool.effect_from_policy
        if entry.effect is not None:
            if guessed or entry.effect.rank >= tool.effect.rank:  # raising is never a conflict
                changes["effect"] = entry.effect
                changes["effect_from_policy"] = False
            else:
                self._conflict(path, "effect", tool, tool.effect.value, entry.effect.value)
        for key in _ARG_KEYS:
            wanted = getattr(entry, key)
            if wanted is None:
                continue
            unknown = sorted(set(wanted) - set(tool.arg_names()))
            if unknown:
                self.reporter.problem(
                    (*path, key),
                    f"{key} names {', '.join(map(repr, unknown))}, which {tool.name} does not "
                    f"take; its arguments: {', '.join(tool.arg_names()) or '(none)'}",
                )
                continue
            changes.update(self._arg_change(tool, key, tuple(wanted), path, guessed))
        for key in _FIELD_KEYS:
            wanted = getattr(entry, key)
            if wanted is None:
                continue
            fields = _result_fields(tool)
            unknown = sorted(set(wanted) - fields - {"*"})
            if unknown and "*" not in fields:
                self.reporter.problem(
                    (*path, key),
                    f"{key} names {', '.join(map(repr, unknown))}, which {tool.name}'s result "
                    f"does not have; its fields: {', '.join(sorted(fields)) or '(none)'}",
                )
                continue
            changes.update(self._field_change(tool, key, tuple(wanted), path, guessed))
        if changes.get("recipients") and (changes.get("effect") or tool.effect) is Effect.READ:
            self.reporter.problem(
                (*path, "recipients"),
                f"{tool.name} is a read; only communicate tools have recipients "
                "(set `effect: communicate`)",
            )
        return changes

    def _arg_change(
        self, tool: Tool, key: str, wanted: tuple[str, ...], path: Path_, guessed: bool
    ) -> dict[str, Any]:
        declared = getattr(tool, key)
        if key == "secret_args":  # more secrets are never a conflict
            return {key: frozenset(declared) | frozenset(wanted)}
        if declared and set(declared) != set(wanted) and not guessed:
            self._conflict((*path, key), key, tool, list(declared), list(wanted))
            return {}
        return {key: wanted}

    def _field_change(
        self, tool: Tool, key: str, wanted: tuple[str, ...], path: Path_, guessed: bool
    ) -> dict[str, Any]:
        declared = tool.untrusted_paths if key == "untrusted_fields" else tool.vouches
        if declared and set(declared) != set(wanted) and not guessed:
            self._conflict((*path, key), key, tool, list(declared), list(wanted))
            return {}
        if key == "untrusted_fields":
            whole = wanted == ("*",)
            return {
                "untrusted_output": whole or bool(wanted),
                "untrusted_fields": () if whole else wanted,
            }
        return {key: wanted}

    def _conflict(self, path: Path_, key: str, tool: Tool, declared: Any, wanted: Any) -> None:
        self.reporter.problem(
            path,
            f"{tool.name} declares {key} {declared!r} itself; the tools section says "
            f"{wanted!r}. Remove `{key}` here (a tool's own declaration is not overridden)",
        )


def _result_fields(tool: Tool) -> set[str]:
    """The field paths of a tool's result, as far as its type says; with ``*`` when
    it does not say (no type, or a free-form mapping): then any path is accepted."""
    if tool.returns is None:
        return {"*"}
    schema = tool.returns.json_schema()
    return _properties(schema, schema)


def _properties(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {}).get(name, {})
    found: set[str] = set()
    for name, sub in schema.get("properties", {}).items():
        found.add(name)
        found |= {f"{name}.{inner}" for inner in _properties(sub, root)}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        found |= _properties(schema["items"], root)
    additional = schema.get("additionalProperties")
    if (
        schema.get("type") == "object"
        and not schema.get("properties")
        and additional in (None, True)
    ):
        found.add("*")  # a free-form mapping: any field may be there
    return found
