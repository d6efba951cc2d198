"""Checks of a compiled policy's conditions against the tools their grants match.

Errors: a provenance function on an argument that cannot carry provenance (a
number, a flag), ``recipients`` on a tool with no address fields, a sequence
condition on an unknown tool. Warnings: a communicate grant whose conditions read
some of its tool's address fields but not all (use ``recipients``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from tether.policy._cel import Condition
from tether.policy._policy import Approval, Grant, Policy
from tether.policy._yaml import Path_
from tether.tools import Effect, Tool

_SEQUENCE_TOOL = re.compile(
    r"""\.tool\s*==\s*["']([^"']+)["']|["']([^"']+)["']\s*==\s*[A-Za-z_]\w*\.tool\b"""
)
_NO_PROVENANCE = frozenset({"number", "boolean", "object", "null"})


class _Reporter(Protocol):
    def problem(self, path: Path_, message: str) -> None: ...
    def warn(self, path: Path_, message: str) -> None: ...


def check_conditions(reporter: _Reporter, policy: Policy) -> None:
    for name, agent in policy.agents.items():
        for index, grant in enumerate(agent.grants):
            path: Path_ = ("agents", name, "tools", index)
            tools = [tool for tool in policy.tools if grant.matcher.matches(tool.name)]
            conditions = list(_conditions(grant, path))
            for condition, where in conditions:
                _check_provenance_args(reporter, condition, where, tools)
                _check_recipients(reporter, condition, where, tools)
                _check_sequence(reporter, condition, where, policy)
            _warn_partial_recipients(reporter, grant, path, tools, [c for c, _ in conditions])


def _conditions(grant: Grant, path: Path_) -> Iterator[tuple[Condition, Path_]]:
    if grant.when is not None:
        yield grant.when, (*path, "when")
    if isinstance(grant.approval, Approval) and grant.approval.when is not None:
        yield grant.approval.when, (*path, "approval", "when")
    for index, limit in enumerate(grant.limits):
        if limit.sum is not None:
            yield limit.sum, (*path, "limits", index, "sum")


def _check_provenance_args(
    reporter: _Reporter, condition: Condition, where: Path_, tools: list[Tool]
) -> None:
    for argument in condition.provenance_args:
        parts = argument.split(".")
        if parts[0] != "args" or len(parts) != 2:
            continue
        for tool in tools:
            kind = _arg_type(tool, parts[1])
            if kind in _NO_PROVENANCE:
                reporter.problem(
                    where,
                    f"{argument} of {tool.name} is a {kind}, which carries no provenance; "
                    "ask about identifiers (addresses, URLs, accounts, ids), e.g. "
                    "vouched(args.iban)",
                )


def _arg_type(tool: Tool, name: str) -> str | None:
    field = tool.json_schema().get("properties", {}).get(name)
    if field is None:
        return None
    kinds = {field.get("type")} | {item.get("type") for item in field.get("anyOf", [])}
    kinds.discard(None)
    if not kinds or "string" in kinds or "integer" in kinds or "array" in kinds:
        return None
    return str(sorted(kinds)[0])


def _check_recipients(
    reporter: _Reporter, condition: Condition, where: Path_, tools: list[Tool]
) -> None:
    if "recipients" not in condition.reads:
        return
    bare = [tool.name for tool in tools if not tool.recipients]
    if bare:
        reporter.problem(
            where,
            f"the condition reads recipients, but {', '.join(bare)} declares no address "
            "fields; declare them (`recipients:` on the tool or in the policy's tools section)",
        )


def _check_sequence(
    reporter: _Reporter, condition: Condition, where: Path_, policy: Policy
) -> None:
    paths = condition.paths.get("run", frozenset())
    if paths is not None and not any(path[:1] == ("calls",) for path in paths):
        return
    for match in _SEQUENCE_TOOL.finditer(condition.source):
        name = match.group(1) or match.group(2)
        if name not in policy.tools:
            reporter.problem(
                where,
                f"the sequence condition names tool {name!r}, which is not a known tool; "
                f"known tools: {', '.join(policy.tools.names())}",
            )


def _warn_partial_recipients(
    reporter: _Reporter, grant: Grant, path: Path_, tools: list[Tool], conditions: list[Condition]
) -> None:
    read: set[str] = set()
    for condition in conditions:
        paths = condition.paths.get("args", frozenset())
        if paths is None:
            return  # reads the arguments whole
        read |= {field[0] for field in paths if field}
    for tool in tools:
        if tool.effect_under(grant.effect) is not Effect.COMMUNICATE or not tool.recipients:
            continue
        checked = read & set(tool.recipients)
        missing = [name for name in tool.recipients if name not in read]
        if checked and missing:
            reporter.warn(
                (*path, "tool"),
                f"{grant.rule}: the conditions read {', '.join(sorted(checked))} of "
                f"{tool.name} but not {', '.join(missing)}; a recipient there is not checked. "
                "Use `recipients`, which holds every address field",
            )
