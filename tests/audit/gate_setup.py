"""A small policy and toolset that exercise every gate outcome, with secrets to leak."""

from __future__ import annotations

import asyncio
from typing import Any

from tether.calls import Principal, ProposedCall, RunState
from tether.gate import CallOutcome, Gate
from tether.policy import Policy, load_policy_text
from tether.tools import Effect, Toolset, tool

PASSPHRASE = "correct-horse-battery-staple"
"""A secret only the tool's metadata marks as one (its name gives nothing away)."""
BEARER = "Bearer abcdefghijklmnopqrstuvwxyz012345"
API_KEY = "sk-live0123456789abcdefghijklmnop"
PHONE = "+44 20 7946 0001"


@tool(name="crm.read", effect=Effect.READ)
def crm_read(party_id: int) -> dict[str, Any]:
    """Read a customer."""
    return {"id": party_id, "name": "Acme", "phone": PHONE, "note": f"call with {BEARER}"}


@tool(name="crm.connect", effect=Effect.READ, secret_args=["passphrase"])
def crm_connect(account: str, passphrase: str) -> dict[str, str]:
    """Open a session."""
    return {"account": account, "session": BEARER, "echo": passphrase}


@tool(name="crm.fail", effect=Effect.READ, secret_args=["passphrase"])
def crm_fail(passphrase: str) -> str:
    """Always fails, naming its secret."""
    raise ValueError(f"login failed for {passphrase} with key {API_KEY}")


@tool(name="erp.refund", effect=Effect.IRREVERSIBLE)
def erp_refund(invoice: int, amount: float) -> dict[str, float]:
    """Refund an invoice."""
    return {"refunded": amount}


@tool(name="crm.delete", effect=Effect.IRREVERSIBLE)
def crm_delete(party_id: int) -> bool:
    """Delete a customer."""
    return True


TOOLS = Toolset([crm_read, crm_connect, crm_fail, erp_refund, crm_delete])

POLICY = """
version: 1
roles:
  staff:
    may: ["*"]
  finance:
    may: ["*"]
users:
  alice: {roles: [staff]}
  fiona: {roles: [finance]}
  frank: {roles: [finance]}
defaults:
  approval: {approvers: ["role:finance"]}
redact:
  fields: [phone]
agents:
  desk:
    may_act_for: [role:staff]
    tools:
      - {id: read, tool: crm.read}
      - {id: connect, tool: crm.connect}
      - {id: fail, tool: crm.fail}
      - {id: refund, tool: erp.refund}
"""


def policy() -> Policy:
    return load_policy_text(POLICY, tools=TOOLS)


def proposed(
    tool_name: str, args: dict[str, Any], *, call_id: str, run_id: str = "run-1"
) -> ProposedCall:
    return ProposedCall(
        tool=tool_name,
        args=args,
        agent="desk",
        agent_version="2.1",
        principal=Principal(id="alice", roles=frozenset({"staff"})),
        run=RunState(id=run_id),
        call_id=call_id,
        why=f"the customer asked (step {call_id})",
    )


def run_calls(gate: Gate) -> dict[str, CallOutcome]:
    """One call of each kind: allowed, allowed with secrets, failing, needing approval, denied."""
    calls = {
        "read": proposed("crm.read", {"party_id": 1}, call_id="c1"),
        "connect": proposed(
            "crm.connect", {"account": "acme", "passphrase": PASSPHRASE}, call_id="c2"
        ),
        "fail": proposed("crm.fail", {"passphrase": PASSPHRASE}, call_id="c3"),
        "refund": proposed("erp.refund", {"invoice": 7, "amount": 90.0}, call_id="c4"),
        "delete": proposed("crm.delete", {"party_id": 1}, call_id="c5"),
    }

    async def go() -> dict[str, CallOutcome]:
        return {name: await gate.call(call) for name, call in calls.items()}

    return asyncio.run(go())
