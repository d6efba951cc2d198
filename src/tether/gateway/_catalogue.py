"""The catalogue: every tool the policy knows (tether's connectors and upstream MCP
servers alike), and which of them a caller is offered.

A caller sees a tool only if the policy grants it to the caller's agent, the agent may
act for the caller's principal, and (for an upstream MCP tool) its definition is the
one an operator accepted. What a client is told about a tool's effect (its
annotations) comes from tether's effect class, never from the upstream's hints.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import mcp_types as types

from tether.connectors.mcp import MCPToolset
from tether.errors import ToolCallError, UnknownToolError
from tether.gateway._identity import Caller
from tether.gateway._pins import Pins, PinStatus, definition_hash
from tether.policy import Policy
from tether.tools import Effect, Tool, Toolset

_log = logging.getLogger("tether.gateway")

Standing = PinStatus | None
"""A tool's pin: accepted, quarantined, or None (not an upstream MCP tool: not pinned)."""


class Catalogue:
    """The tools of one policy, as the gateway offers them."""

    def __init__(
        self,
        policy: Policy,
        pins: Pins,
        toolsets: Sequence[Toolset],
        *,
        recheck_seconds: float,
    ) -> None:
        self.policy = policy
        self.pins = pins
        self.upstreams = [toolset for toolset in toolsets if isinstance(toolset, MCPToolset)]
        self.recheck_seconds = recheck_seconds
        self._status: dict[str, PinStatus] = {}
        self._seen: dict[str, str] = {}  # the hash of each tool's definition last listed
        self._pinned = {name for upstream in self.upstreams for name in upstream.names()}
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    # --- pins -------------------------------------------------------------------------

    def observe_initial(self) -> None:
        """Pin what the upstream servers listed when the gateway connected."""
        for upstream in self.upstreams:
            self._note(upstream.definitions(), self.pins.observe(upstream.definitions()))
        self._checked_at = time.monotonic()

    def _note(self, definitions: Mapping[str, Any], statuses: Mapping[str, PinStatus]) -> None:
        for name, definition in definitions.items():
            self._seen[name] = definition_hash(definition)
            self._status[name] = statuses[name]

    async def recheck(self, *, force: bool = False) -> None:
        """List the upstream servers' tools again when due (``recheck_seconds``); a tool
        whose definition changed is quarantined, one that disappeared is not offered."""
        if not force and time.monotonic() - self._checked_at < self.recheck_seconds:
            return
        async with self._lock:
            if not force and time.monotonic() - self._checked_at < self.recheck_seconds:
                return
            for upstream in self.upstreams:
                try:
                    current = await asyncio.to_thread(upstream.current_definitions)
                except ToolCallError as exc:
                    _log.warning("gateway: %s: %s", exc.tool, exc.message)
                    continue  # its calls fail on their own; what was pinned stays as it was
                seen = await asyncio.to_thread(self.pins.observe, current)
                self._note(current, seen)
                for name in set(upstream.names()) - set(current):  # gone from the server
                    self._status[name] = "quarantined"
                    self._seen.pop(name, None)
            self._checked_at = time.monotonic()

    def standing(self, name: str) -> Standing:
        if name not in self._pinned:
            return None
        status = self._status.get(name, "quarantined")
        seen = self._seen.get(name)
        if status == "quarantined" and seen is not None:
            # an operator may have accepted it since (from another process)
            pin = self.pins.get(name)
            if pin is not None and pin.accepted_hash == seen:
                self._status[name] = status = "accepted"
        return status

    # --- what a caller sees -------------------------------------------------------------

    def granted(self, caller: Caller) -> list[Tool]:
        """The tools this caller's agent is granted and its principal may use, not
        quarantined."""
        agent = self.policy.agents.get(caller.agent)
        person = self.policy.principal(caller.principal)
        if agent is None or person is None or not agent.may_act_for(person):
            return []
        permissions = [
            permission
            for role in person.roles
            for permission in self.policy.permissions.get(role, ())
        ]
        return [
            item
            for item in self.policy.tools
            if agent.grant_for(item.name) is not None
            # the person may use it (conditions on arguments are the gate's, per call)
            and any(permission.matcher.matches(item.name) for permission in permissions)
            and self.standing(item.name) != "quarantined"
        ]

    def effect_of(self, caller: Caller, name: str) -> Effect | None:
        """The call's effect class under the caller's grant (None: not a tool it has)."""
        agent = self.policy.agents.get(caller.agent)
        try:
            item = self.policy.tools.get(name)
        except UnknownToolError:
            return None
        grant = agent.grant_for(name) if agent is not None else None
        return item.effect_under(grant.effect if grant is not None else None)

    def listing(self, caller: Caller) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[self._definition(caller, item) for item in self.granted(caller)]
        )

    def _definition(self, caller: Caller, item: Tool) -> types.Tool:
        effect = self.effect_of(caller, item.name) or item.effect
        return types.Tool(
            name=item.name,
            description=item.description,
            input_schema=_input_schema(item),
            annotations=types.ToolAnnotations(
                read_only_hint=effect is Effect.READ,
                destructive_hint=effect is Effect.IRREVERSIBLE,
                idempotent_hint=item.idempotent or effect is Effect.READ,
                open_world_hint=effect is Effect.COMMUNICATE or item.untrusted_output,
            ),
        )


def _input_schema(item: Tool) -> dict[str, Any]:
    schema = item.json_schema()
    schema.pop("title", None)
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return schema
