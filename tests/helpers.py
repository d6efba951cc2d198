"""A small toolset and policy builder for tests that need exact control."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from tether.calls import Principal, ProposedCall, RunState
from tether.policy import Policy, load_policy_text
from tether.tools import Effect, Toolset, tool


@tool(name="crm.find", effect=Effect.READ)
def crm_find(name: str) -> list[str]:
    return [name]


@tool(name="crm.update", effect=Effect.WRITE, resource="party")
def crm_update(party_id: int, email: str) -> bool:
    return True


@tool(name="crm.delete", effect=Effect.IRREVERSIBLE, resource="party")
def crm_delete(party_id: int) -> bool:
    return True


@tool(name="erp.refund", effect=Effect.IRREVERSIBLE)
def erp_refund(invoice: int, amount: float) -> dict[str, float]:
    return {"refunded": amount}


@tool(name="mail.send", effect=Effect.COMMUNICATE)
def mail_send(to: list[str], body: str) -> str:
    return "sent"


@tool(name="mcp.anything")
def mcp_anything(payload: str = "") -> str:
    return payload


TOOLS = Toolset([crm_find, crm_update, crm_delete, erp_refund, mail_send, mcp_anything])

BASE = """
version: 1
roles:
  agent-users:
    may: ["*"]
  clerk:
    may: [crm.find]
  approvers:
    may: ["*"]
users:
  alice: {roles: [agent-users], attributes: {team: emea}}
  bob: {roles: [clerk]}
  fiona: {roles: [approvers]}
  frank: {roles: [approvers]}
defaults:
  approval: {approvers: [role:approvers]}
"""


def policy(agents: str, *, base: str = BASE, extra: str = "") -> Policy:
    """A policy of BASE plus the given ``agents:`` body (YAML, indented freely)."""
    text = (
        base + textwrap.dedent(extra) + "agents:\n" + textwrap.indent(textwrap.dedent(agents), "  ")
    )
    return load_policy_text(text, tools=TOOLS)


def call(
    tool: str,
    args: Mapping[str, Any] | None = None,
    *,
    agent: str = "bot",
    principal: Principal | None = None,
    untrusted: bool = False,
    resource: Mapping[str, Any] | None = None,
    run_id: str = "run-1",
    call_id: str = "call-1",
    known_contacts: frozenset[str] = frozenset(),
) -> ProposedCall:
    return ProposedCall(
        tool=tool,
        args=dict(args or {}),
        agent=agent,
        principal=principal
        or Principal(id="alice", roles=frozenset({"agent-users"}), attributes={"team": "emea"}),
        run=RunState(id=run_id, untrusted=untrusted, known_contacts=known_contacts),
        call_id=call_id,
        resource=resource,
    )
