"""Decision latency of the action gate, against AWS Cedar (cedarpy) on the same rules.

Measures ``tether.gate.evaluate(policy, call)``: identify, permit and check inputs, the
gate's pure steps (no I/O). Limits are settled in the database by the gate's later step,
so they are not part of this measurement: ``evaluate()`` only computes a call's limit
claims, which it does here for the two limits the policy sets.

The policy (``bench/policies/gate_50.yaml``, about 50 rules over six agents) is stated
again in Cedar (``gate_50.cedar`` with the schema ``gate_50.cedarschema``). The same
workload of calls (allowed, denied for many reasons, needing approval) is decided by both
engines; the script first checks that they agree on every call and exits 1 if they do not.

cedarpy gets its fastest public path: the policy set, schema and entities are parsed
once into handles, and each request's context is serialized to JSON before timing.
Building the requests (and tether's ProposedCall) is not timed for either engine. The
cyclic garbage collector stays on, as in any real process; the report says how many
collections ran while each engine was timed.

    .venv/bin/python bench/gate.py [--iterations N] [--warmup N] [--json] [--check-targets]

Targets (issue 2): tether p50 <= 20 µs, p99 <= 100 µs, and at least 2x faster than
cedarpy (judged at p50 and at p99).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal, TypeVar

import cedarpy

from tether.calls import ProposedCall, RunState
from tether.gate import evaluate
from tether.policy import Policy, load_policy_text
from tether.tools import Effect, Toolset, tool

POLICIES = Path(__file__).resolve().parent / "policies"
TETHER_POLICY = POLICIES / "gate_50.yaml"
CEDAR_POLICY = POLICIES / "gate_50.cedar"
CEDAR_SCHEMA = POLICIES / "gate_50.cedarschema"

CEDAR_SETUP = (
    "PolicySet, Schema and Entities handles parsed once; context passed as a JSON string; "
    "each request validated against the schema (as tether validates arguments)"
)

TARGET_P50_US = 20.0
TARGET_P99_US = 100.0
TARGET_SPEEDUP = 2.0

Kind = Literal["allow", "deny", "needs_approval"]
KINDS: tuple[Kind, ...] = ("allow", "deny", "needs_approval")
T = TypeVar("T")

# --- the toolset ------------------------------------------------------------------
# Stand-ins with real signatures and metadata: the gate validates arguments against the
# signatures and reads the metadata. The bodies never run; the benchmark only decides.

Record = dict[str, Any]


def _never() -> Record:
    raise NotImplementedError("the benchmark decides calls, it never executes them")


@tool(name="crm.find_party", effect=Effect.READ, idempotent=True)
def find_party(name: str) -> Record:
    """Find customers whose name contains the text."""
    return _never()


@tool(name="crm.read_party", effect=Effect.READ, resource="party", idempotent=True)
def read_party(party_id: int) -> Record:
    """Read one customer's record."""
    return _never()


@tool(name="crm.update_party", effect=Effect.WRITE, resource="party")
def update_party(party_id: int, field: str, value: str) -> Record:
    """Change one field of a customer's record."""
    return _never()


@tool(name="crm.add_note", effect=Effect.WRITE, resource="party")
def add_note(party_id: int, text: str) -> Record:
    """Add an internal note to a customer's record."""
    return _never()


@tool(name="crm.delete_party", effect=Effect.IRREVERSIBLE, resource="party")
def delete_party(party_id: int) -> Record:
    """Delete a customer and everything about them."""
    return _never()


@tool(name="erp.list_invoices", effect=Effect.READ, resource="party", idempotent=True)
def list_invoices(party_id: int) -> Record:
    """List a customer's invoices."""
    return _never()


@tool(name="erp.read_invoice", effect=Effect.READ, resource="invoice", idempotent=True)
def read_invoice(invoice_id: int) -> Record:
    """Read one invoice."""
    return _never()


@tool(name="erp.create_credit_note", effect=Effect.IRREVERSIBLE, resource="invoice")
def create_credit_note(invoice_id: int, amount: int, reason: str) -> Record:
    """Refund part or all of an invoice (whole currency units)."""
    return _never()


@tool(name="erp.create_quote", effect=Effect.WRITE, resource="party")
def create_quote(party_id: int, amount: int, discount_pct: int) -> Record:
    """Draft a quote for a customer."""
    return _never()


@tool(name="erp.approve_payment", effect=Effect.IRREVERSIBLE, resource="payment")
def approve_payment(payment_id: int, amount: int, currency: str) -> Record:
    """Release a supplier payment."""
    return _never()


@tool(name="email.send", effect=Effect.COMMUNICATE, idempotent=True, recipients=("to",))
def send_email(to: list[str], subject: str, body: str) -> Record:
    """Send an email from the company."""
    return _never()


@tool(name="email.read_inbox", effect=Effect.READ, untrusted_output=True, idempotent=True)
def read_inbox() -> Record:
    """Read the shared inbox; messages come from outside."""
    return _never()


@tool(name="ticket.read", effect=Effect.READ, resource="ticket", idempotent=True)
def read_ticket(ticket_id: int) -> Record:
    """Read a support ticket."""
    return _never()


@tool(name="ticket.comment", effect=Effect.WRITE, resource="ticket")
def comment_ticket(ticket_id: int, text: str, public: bool) -> Record:
    """Comment on a ticket, internally or to the customer."""
    return _never()


@tool(name="ticket.close", effect=Effect.WRITE, resource="ticket")
def close_ticket(ticket_id: int, resolution: str) -> Record:
    """Close a ticket with a resolution."""
    return _never()


@tool(name="ticket.assign", effect=Effect.WRITE, resource="ticket")
def assign_ticket(ticket_id: int, assignee: str) -> Record:
    """Assign a ticket to someone."""
    return _never()


@tool(name="hr.read_employee", effect=Effect.READ, resource="employee", idempotent=True)
def read_employee(employee_id: int) -> Record:
    """Read an employee's record."""
    return _never()


@tool(name="hr.update_salary", effect=Effect.IRREVERSIBLE, resource="employee")
def update_salary(employee_id: int, salary: int) -> Record:
    """Set an employee's yearly salary."""
    return _never()


@tool(name="docs.search", effect=Effect.READ, idempotent=True)
def search_docs(query: str) -> Record:
    """Search the internal documentation."""
    return _never()


@tool(name="web.fetch", effect=Effect.READ, untrusted_output=True, idempotent=True)
def fetch(url: str) -> Record:
    """Fetch a web page."""
    return _never()


@tool(name="chat.post", effect=Effect.COMMUNICATE)
def post_chat(channel: str, text: str) -> Record:
    """Post a message to a chat channel."""
    return _never()


BENCH_TOOLS = Toolset(
    [
        find_party,
        read_party,
        update_party,
        add_note,
        delete_party,
        list_invoices,
        read_invoice,
        create_credit_note,
        create_quote,
        approve_payment,
        send_email,
        read_inbox,
        read_ticket,
        comment_ticket,
        close_ticket,
        assign_ticket,
        read_employee,
        update_salary,
        search_docs,
        fetch,
        post_chat,
    ]
)

# --- the workload ---------------------------------------------------------------------

RECORDS: dict[str, Record] = {
    "party:17": {"id": 17, "team": "emea", "region": "eu"},
    "party:42": {"id": 42, "team": "us", "region": "na"},
    "invoice:9001": {"id": 9001, "team": "emea", "region": "eu"},
    "payment:501": {"id": 501, "team": "emea", "region": "eu"},
    "ticket:301": {"id": 301, "team": "emea", "region": "eu"},
    "ticket:302": {"id": 302, "team": "us", "region": "na"},
    "employee:7": {"id": 7, "team": "emea", "region": "eu", "band_max": 90_000},
    "employee:8": {"id": 8, "team": "us", "region": "na", "band_max": 80_000},
}
"""The records calls target, by ``kind:id``. A target not listed here was not found."""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One call of the workload, and the decision it was written to get."""

    name: str
    expect: Kind
    agent: str
    user: str
    tool: str
    args: Record
    target: str | None = None
    """``kind:id`` of the record the call targets (a key of RECORDS, or one not found)."""
    untrusted: bool = False
    known_contacts: tuple[str, ...] = ()


def _case(  # noqa: PLR0917 (one line of the workload table per call)
    name: str,
    expect: Kind,
    agent: str,
    user: str,
    tool_name: str,
    args: Record,
    target: str | None = None,
    *,
    untrusted: bool = False,
    known: tuple[str, ...] = (),
) -> Case:
    return Case(
        name=name,
        expect=expect,
        agent=agent,
        user=user,
        tool=tool_name,
        args=args,
        target=target,
        untrusted=untrusted,
        known_contacts=known,
    )


def _provenance(case: Case) -> dict[str, tuple[str, ...]]:
    """Provenance on: each run holds a table of the identifiers it met, as a run that
    read its task, the CRM and an inbound email does. Its known contacts are vouched
    for by the CRM (so ``vouched(r)`` in the policy means what Cedar's known-contact
    check does); the rest is what an inbound email showed it."""
    table = {f"email:{address}": ("tool:crm.read_party",) for address in case.known_contacts}
    seen = ("untrusted:email.read_inbox",)
    table |= {f"email:sender{n}@outside.example": seen for n in range(20)}
    table |= {f"name:inv-{n:04d}": ("task",) for n in range(10)}
    return table


_REFUND = {"invoice_id": 9001, "reason": "damaged in transit"}
_MAIL = {"subject": "Your order", "body": "Hello, ..."}

WORKLOAD: tuple[Case, ...] = (
    # support-desk, for alice (support, team emea)
    _case("find a customer", "allow", "support-desk", "alice", "crm.find_party", {"name": "Acme"}),
    _case("read own team's customer", "allow", "support-desk", "alice", "crm.read_party",
          {"party_id": 17}, "party:17"),
    _case("read other team's customer (scope)", "deny", "support-desk", "alice",
          "crm.read_party", {"party_id": 42}, "party:42"),
    _case("read unidentified customer (scope)", "deny", "support-desk", "alice",
          "crm.read_party", {"party_id": 404}, "party:404"),
    _case("add a note", "allow", "support-desk", "alice", "crm.add_note",
          {"party_id": 17, "text": "called back"}, "party:17"),
    _case("add a note after reading mail (untrusted: allow)", "allow", "support-desk", "alice",
          "crm.add_note", {"party_id": 17, "text": "see mail"}, "party:17", untrusted=True),
    _case("list invoices", "allow", "support-desk", "alice", "erp.list_invoices",
          {"party_id": 17}, "party:17"),
    _case("read an invoice", "allow", "support-desk", "alice", "erp.read_invoice",
          {"invoice_id": 9001}, "invoice:9001"),
    _case("small refund", "allow", "support-desk", "alice", "erp.create_credit_note",
          {**_REFUND, "amount": 150}, "invoice:9001"),
    _case("medium refund (approval rule)", "needs_approval", "support-desk", "alice",
          "erp.create_credit_note", {**_REFUND, "amount": 450}, "invoice:9001"),
    _case("small refund after reading mail", "needs_approval", "support-desk", "alice",
          "erp.create_credit_note", {**_REFUND, "amount": 150}, "invoice:9001", untrusted=True),
    _case("large refund (principal's own limit)", "deny", "support-desk", "alice",
          "erp.create_credit_note", {**_REFUND, "amount": 1500}, "invoice:9001"),
    _case("refund with empty reason (condition)", "deny", "support-desk", "alice",
          "erp.create_credit_note", {"invoice_id": 9001, "amount": 80, "reason": ""},
          "invoice:9001"),
    _case("refund with a non-numeric amount", "deny", "support-desk", "alice",
          "erp.create_credit_note", {**_REFUND, "amount": "lots"}, "invoice:9001"),
    _case("refund with an unknown argument (schema)", "deny", "support-desk", "alice",
          "erp.create_credit_note", {**_REFUND, "amount": 50, "rush": True}, "invoice:9001"),
    _case("mail to customers' domains", "allow", "support-desk", "alice", "email.send",
          {**_MAIL, "to": ["jo@acme.example", "li@globex.example"]}),
    _case("mail to a stranger (condition)", "deny", "support-desk", "alice", "email.send",
          {**_MAIL, "to": ["jo@acme.example", "x@gmail.example"]}),
    _case("mail to a known contact", "allow", "support-desk", "alice", "email.send",
          {**_MAIL, "to": ["x@gmail.example"]}, known=("x@gmail.example",)),
    _case("mail after reading mail", "needs_approval", "support-desk", "alice", "email.send",
          {**_MAIL, "to": ["jo@acme.example"]}, untrusted=True),
    _case("mail missing its subject (schema)", "deny", "support-desk", "alice", "email.send",
          {"to": ["jo@acme.example"], "body": "hi"}),
    _case("read the inbox", "allow", "support-desk", "alice", "email.read_inbox", {}),
    _case("read a ticket (wildcard grant)", "allow", "support-desk", "alice", "ticket.read",
          {"ticket_id": 301}, "ticket:301"),
    _case("comment on a ticket (wildcard grant)", "allow", "support-desk", "alice",
          "ticket.comment", {"ticket_id": 301, "text": "on it", "public": False}, "ticket:301"),
    _case("comment after reading mail (default untrusted)", "needs_approval", "support-desk",
          "alice", "ticket.comment", {"ticket_id": 301, "text": "done", "public": True},
          "ticket:301", untrusted=True),
    _case("close a ticket as solved", "allow", "support-desk", "alice", "ticket.close",
          {"ticket_id": 301, "resolution": "solved"}, "ticket:301"),
    _case("close a ticket as deleted (specific grant wins)", "deny", "support-desk", "alice",
          "ticket.close", {"ticket_id": 301, "resolution": "deleted"}, "ticket:301"),
    _case("assign a ticket", "allow", "support-desk", "alice", "ticket.assign",
          {"ticket_id": 301, "assignee": "bob"}, "ticket:301"),
    _case("assign a ticket after reading mail (untrusted: deny)", "deny", "support-desk",
          "alice", "ticket.assign", {"ticket_id": 301, "assignee": "bob"}, "ticket:301",
          untrusted=True),
    _case("search the docs", "allow", "support-desk", "alice", "docs.search",
          {"query": "refund policy"}),
    _case("delete a customer (no grant)", "deny", "support-desk", "alice", "crm.delete_party",
          {"party_id": 17}, "party:17"),
    _case("fetch a web page (no grant)", "deny", "support-desk", "alice", "web.fetch",
          {"url": "https://example.com"}),
    _case("unknown tool", "deny", "support-desk", "alice", "crm.merge_parties",
          {"party_ids": [17, 42]}),
    _case("unknown agent", "deny", "shadow-it", "alice", "crm.find_party", {"name": "Acme"}),
    _case("acting for a salesperson (may_act_for)", "deny", "support-desk", "sam",
          "crm.find_party", {"name": "Acme"}),
    # support-desk, for bob (support, team us)
    _case("bob reads his team's customer", "allow", "support-desk", "bob", "crm.read_party",
          {"party_id": 42}, "party:42"),
    _case("bob's ticket from emea (scope)", "deny", "support-desk", "bob", "ticket.read",
          {"ticket_id": 301}, "ticket:301"),
    # billing, for fiona (finance-lead)
    _case("delete a customer (default approval)", "needs_approval", "billing", "fiona",
          "crm.delete_party", {"party_id": 42}, "party:42"),
    _case("update a customer (crm.*)", "allow", "billing", "fiona", "crm.update_party",
          {"party_id": 42, "field": "iban", "value": "DE00"}, "party:42"),
    _case("big refund (always approved, quorum 2)", "needs_approval", "billing", "fiona",
          "erp.create_credit_note", {**_REFUND, "amount": 5000}, "invoice:9001"),
    _case("quote through erp.*", "allow", "billing", "fiona", "erp.create_quote",
          {"party_id": 42, "amount": 9000, "discount_pct": 30}, "party:42"),
    _case("approve a payment", "allow", "billing", "fiona", "erp.approve_payment",
          {"payment_id": 501, "amount": 5000, "currency": "EUR"}, "payment:501"),
    _case("approve a large payment", "needs_approval", "billing", "fiona",
          "erp.approve_payment", {"payment_id": 501, "amount": 20000, "currency": "USD"},
          "payment:501"),
    _case("approve a payment in yen (condition)", "deny", "billing", "fiona",
          "erp.approve_payment", {"payment_id": 501, "amount": 5000, "currency": "JPY"},
          "payment:501"),
    _case("approve a payment after reading mail", "deny", "billing", "fiona",
          "erp.approve_payment", {"payment_id": 501, "amount": 5000, "currency": "EUR"},
          "payment:501", untrusted=True),
    _case("internal mail (default approval)", "needs_approval", "billing", "fiona",
          "email.send", {**_MAIL, "to": ["ap@acme.example"]}),
    _case("external mail (condition)", "deny", "billing", "fiona", "email.send",
          {**_MAIL, "to": ["ap@globex.example"]}),
    _case("read an employee (no grant)", "deny", "billing", "fiona", "hr.read_employee",
          {"employee_id": 7}, "employee:7"),
    _case("billing for a support person (may_act_for)", "deny", "billing", "alice",
          "crm.find_party", {"name": "Acme"}),
    # sales-assistant, for sam (sales, region eu)
    _case("find a customer", "allow", "sales-assistant", "sam", "crm.find_party",
          {"name": "Initech"}),
    _case("read a customer in region", "allow", "sales-assistant", "sam", "crm.read_party",
          {"party_id": 17}, "party:17"),
    _case("read a customer out of region (scope)", "deny", "sales-assistant", "sam",
          "crm.read_party", {"party_id": 42}, "party:42"),
    _case("update a customer's phone", "allow", "sales-assistant", "sam", "crm.update_party",
          {"party_id": 17, "field": "phone", "value": "+49 30 1234"}, "party:17"),
    _case("update a customer's iban (condition)", "deny", "sales-assistant", "sam",
          "crm.update_party", {"party_id": 17, "field": "iban", "value": "DE00"}, "party:17"),
    _case("quote with 5% off", "allow", "sales-assistant", "sam", "erp.create_quote",
          {"party_id": 17, "amount": 8000, "discount_pct": 5}, "party:17"),
    _case("quote with 15% off", "needs_approval", "sales-assistant", "sam", "erp.create_quote",
          {"party_id": 17, "amount": 8000, "discount_pct": 15}, "party:17"),
    _case("large quote", "needs_approval", "sales-assistant", "sam", "erp.create_quote",
          {"party_id": 17, "amount": 30000, "discount_pct": 0}, "party:17"),
    _case("quote with 25% off (principal and condition)", "deny", "sales-assistant", "sam",
          "erp.create_quote", {"party_id": 17, "amount": 8000, "discount_pct": 25}, "party:17"),
    _case("mail a known contact", "allow", "sales-assistant", "sam", "email.send",
          {**_MAIL, "to": ["buyer@initech.example"]}, known=("buyer@initech.example",)),
    _case("mail a stranger (condition)", "deny", "sales-assistant", "sam", "email.send",
          {**_MAIL, "to": ["buyer@initech.example"]}),
    _case("mail after reading mail (untrusted: deny)", "deny", "sales-assistant", "sam",
          "email.send", {**_MAIL, "to": ["a@acme.example"]}, untrusted=True),
    _case("post to #sales-emea", "allow", "sales-assistant", "sam", "chat.post",
          {"channel": "#sales-emea", "text": "won Acme"}),
    _case("post to #general (condition)", "deny", "sales-assistant", "sam", "chat.post",
          {"channel": "#general", "text": "hi all"}),
    _case("delete a customer (no grant)", "deny", "sales-assistant", "sam", "crm.delete_party",
          {"party_id": 17}, "party:17"),
    _case("dan reads his region's customer", "allow", "sales-assistant", "dan",
          "crm.read_party", {"party_id": 42}, "party:42"),
    _case("sales-assistant for a support person (may_act_for)", "deny", "sales-assistant",
          "alice", "crm.read_party", {"party_id": 17}, "party:17"),
    # hr-assistant, for hannah (hr, team emea)
    _case("read an employee", "allow", "hr-assistant", "hannah", "hr.read_employee",
          {"employee_id": 7}, "employee:7"),
    _case("read an employee of another team (scope)", "deny", "hr-assistant", "hannah",
          "hr.read_employee", {"employee_id": 8}, "employee:8"),
    _case("raise a salary within band", "needs_approval", "hr-assistant", "hannah",
          "hr.update_salary", {"employee_id": 7, "salary": 72000}, "employee:7"),
    _case("raise a salary above band (condition on resource)", "deny", "hr-assistant",
          "hannah", "hr.update_salary", {"employee_id": 7, "salary": 120000}, "employee:7"),
    _case("raise a salary after reading mail", "deny", "hr-assistant", "hannah",
          "hr.update_salary", {"employee_id": 7, "salary": 72000}, "employee:7",
          untrusted=True),
    _case("post to #hr-team", "allow", "hr-assistant", "hannah", "chat.post",
          {"channel": "#hr-team", "text": "reminder"}),
    _case("hr-lead posts to #hr-team (principal)", "deny", "hr-assistant", "helen",
          "chat.post", {"channel": "#hr-team", "text": "reminder"}),
    _case("hr-assistant for a researcher (may_act_for)", "deny", "hr-assistant", "rita",
          "chat.post", {"channel": "#hr-team", "text": "hello"}),
    # researcher, for anyone
    _case("fetch an https page", "allow", "researcher", "rita", "web.fetch",
          {"url": "https://example.com/report"}),
    _case("fetch an http page (condition)", "deny", "researcher", "rita", "web.fetch",
          {"url": "http://example.com/report"}),
    _case("search the docs", "allow", "researcher", "rita", "docs.search", {"query": "q3"}),
    _case("fetch for a support person (principal)", "deny", "researcher", "alice",
          "web.fetch", {"url": "https://example.com"}),
    _case("post a summary (default approval)", "needs_approval", "researcher", "rita",
          "chat.post", {"channel": "#research", "text": "summary"}),
    _case("post after reading the web (untrusted: deny)", "deny", "researcher", "rita",
          "chat.post", {"channel": "#research", "text": "summary"}, untrusted=True),
    # ops-bot, for olga (ops)
    _case("assign a ticket to triage", "allow", "ops-bot", "olga", "ticket.assign",
          {"ticket_id": 302, "assignee": "triage"}, "ticket:302"),
    _case("assign a ticket to a stranger (condition)", "deny", "ops-bot", "olga",
          "ticket.assign", {"ticket_id": 302, "assignee": "mallory"}, "ticket:302"),
    _case("close a ticket (ticket.*)", "allow", "ops-bot", "olga", "ticket.close",
          {"ticket_id": 302, "resolution": "anything"}, "ticket:302"),
    _case("comment after reading mail (default untrusted)", "needs_approval", "ops-bot", "olga",
          "ticket.comment", {"ticket_id": 302, "text": "x", "public": False}, "ticket:302",
          untrusted=True),
    _case("post to #ops", "allow", "ops-bot", "olga", "chat.post",
          {"channel": "#ops", "text": "deploy done"}),
    _case("search the docs (docs.*)", "allow", "ops-bot", "olga", "docs.search",
          {"query": "runbook"}),
    _case("ops-bot for a support person (may_act_for)", "deny", "ops-bot", "alice",
          "ticket.read", {"ticket_id": 301}, "ticket:301"),
)  # fmt: skip


# --- tether -----------------------------------------------------------------------------


def load_tether_policy() -> Policy:
    return load_policy_text(TETHER_POLICY.read_text(), file=str(TETHER_POLICY), tools=BENCH_TOOLS)


def tether_call(policy: Policy, case: Case, index: int) -> ProposedCall:
    principal = policy.principal(case.user)
    if principal is None:
        raise ValueError(f"case {case.name!r}: user {case.user!r} is not in the policy")
    return ProposedCall(
        tool=case.tool,
        args=case.args,
        agent=case.agent,
        principal=principal,
        run=RunState(
            id=f"run-{index}",
            untrusted=case.untrusted,
            known_contacts=frozenset(case.known_contacts),
            provenance=_provenance(case),
        ),
        call_id=f"call-{index}",
        why="benchmark",
        resource=RECORDS.get(case.target) if case.target else None,
    )


def tether_decider(policy: Policy) -> Callable[[ProposedCall], str]:
    def decide(call: ProposedCall) -> str:
        return evaluate(policy, call).decision.kind

    return decide


# --- Cedar ------------------------------------------------------------------------------


def _entity(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}


def _domain(address: str) -> str:
    # `r.endsWith("@acme.example")` holds exactly when the part after the last "@" is
    # "acme.example"; an address without "@" has no domain and matches no allow-list.
    return address.rpartition("@")[2] if "@" in address else ""


def cedar_request(case: Case) -> dict[str, Any]:
    """The Cedar request for a case: principal = agent, context = person, run, arguments."""
    target = case.target
    if target is not None:
        kind, _, ident = target.partition(":")
        resource = f'{kind.capitalize()}::"{ident}"'
    else:
        resource = f'Service::"{case.tool.partition(".")[0]}"'
    context: dict[str, Any] = {
        "user": {"__entity": _entity("User", case.user)},
        "run": {"untrusted": case.untrusted},
        "args": case.args,
    }
    to = case.args.get("to")
    if case.tool == "email.send" and isinstance(to, list):
        known = set(case.known_contacts)
        context["recipient_domains"] = sorted({_domain(r) for r in to})
        context["stranger_domains"] = sorted({_domain(r) for r in to if r not in known})
    return {
        "principal": f'Agent::"{case.agent}"',
        "action": f'Action::"{case.tool}"',
        "resource": resource,
        # cedarpy would json.dumps a dict context on every call; a string skips that.
        "context": json.dumps(context),
    }


def cedar_entities(policy: Policy) -> list[dict[str, Any]]:
    """Roles, users (with their roles as parents and attributes), agents, records."""
    entities: list[dict[str, Any]] = [
        {"uid": _entity("Role", role), "attrs": {}, "parents": []} for role in policy.spec.roles
    ]
    for user_id, user in policy.spec.users.items():
        entities.append(
            {
                "uid": _entity("User", user_id),
                "attrs": dict(user.attributes),
                "parents": [_entity("Role", role) for role in user.roles],
            }
        )
    entities += [
        {"uid": _entity("Agent", agent), "attrs": {}, "parents": []} for agent in policy.spec.agents
    ]
    services = sorted({name.partition(".")[0] for name in BENCH_TOOLS.names()})
    entities += [
        {"uid": _entity("Service", service), "attrs": {}, "parents": []} for service in services
    ]
    for key, record in RECORDS.items():
        kind, _, ident = key.partition(":")
        attrs = {name: value for name, value in record.items() if name != "id"}
        entities.append({"uid": _entity(kind.capitalize(), ident), "attrs": attrs, "parents": []})
    return entities


@dataclass(frozen=True)
class CedarEngine:
    policies: Any
    schema: Any
    entities: Any
    count: int
    """How many Cedar policies the set holds."""

    @classmethod
    def load(cls, policy: Policy) -> CedarEngine:
        text = CEDAR_POLICY.read_text()
        schema = cedarpy.Schema.from_str(CEDAR_SCHEMA.read_text())
        validation = cedarpy.validate_policies(text, schema)
        if not validation.validation_passed:
            problems = "\n  ".join(str(error) for error in validation.errors)
            raise SystemExit(f"{CEDAR_POLICY} does not validate against its schema:\n  {problems}")
        entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(policy)), schema)
        count = len(json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"])
        return cls(cedarpy.PolicySet.from_str(text), schema, entities, count)

    def decider(self) -> Callable[[dict[str, Any]], str]:
        policies, entities, schema = self.policies, self.entities, self.schema

        def decide(request: dict[str, Any]) -> str:
            return cedar_kind(cedarpy.is_authorized(request, policies, entities, schema))

        return decide


def cedar_kind(result: cedarpy.AuthzResult) -> Kind:
    """tether's three outcomes from Cedar's two (see the header of gate_50.cedar)."""
    diagnostics = result.diagnostics
    if result.decision != cedarpy.Decision.Allow or diagnostics.errors:
        return "deny"  # NoDecision (invalid request) and evaluation errors fail closed
    ids = diagnostics.id_annotations_by_reason
    markers = sum(
        1 for reason in diagnostics.reasons if ids.get(reason, "").startswith("approval:")
    )
    if markers == len(diagnostics.reasons):
        return "deny"  # only approval markers matched: nothing grants the call
    return "needs_approval" if markers else "allow"


# --- agreement ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    cases: tuple[Case, ...]
    calls: tuple[ProposedCall, ...]
    requests: tuple[dict[str, Any], ...]


def build_workload(policy: Policy, cases: Sequence[Case] = WORKLOAD) -> Workload:
    return Workload(
        cases=tuple(cases),
        calls=tuple(tether_call(policy, case, index) for index, case in enumerate(cases)),
        requests=tuple(cedar_request(case) for case in cases),
    )


@dataclass(frozen=True)
class Mismatch:
    case: str
    expected: str
    tether: str
    cedar: str


def compare(
    workload: Workload,
    tether: Callable[[ProposedCall], str],
    cedar: Callable[[dict[str, Any]], str],
) -> tuple[list[Mismatch], list[Mismatch]]:
    """(engines disagree, tether differs from the case's expected decision)."""
    disagreements, unexpected = [], []
    for case, call, request in zip(workload.cases, workload.calls, workload.requests, strict=True):
        mismatch = Mismatch(case.name, case.expect, tether(call), cedar(request))
        if mismatch.tether != mismatch.cedar:
            disagreements.append(mismatch)
        if mismatch.tether != case.expect:
            unexpected.append(mismatch)
    return disagreements, unexpected


# --- timing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    samples: list[int]
    """Nanoseconds per decision; input ``i % len(inputs)`` on iteration ``i``."""
    gc_collections: int
    """Garbage collections (any generation) that ran during the timed decisions."""


def measure(
    decide: Callable[[T], object], inputs: Sequence[T], iterations: int, warmup: int
) -> Timing:
    n = len(inputs)
    for i in range(warmup):
        decide(inputs[i % n])
    gc.collect()
    collections = sum(stat["collections"] for stat in gc.get_stats())
    clock = time.perf_counter_ns
    samples = [0] * iterations
    for i in range(iterations):
        item = inputs[i % n]
        start = clock()
        decide(item)
        samples[i] = clock() - start
    collections = sum(stat["collections"] for stat in gc.get_stats()) - collections
    return Timing(samples, collections)


def timer_overhead_ns() -> int:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(10_000):
        start = clock()
        samples.append(clock() - start)
    return sorted(samples)[len(samples) // 2]


def percentile_us(samples: Sequence[int], q: float) -> float:
    """Nearest-rank percentile, in microseconds."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1] / 1000


def summary(timing: Timing, cases: Sequence[Case]) -> dict[str, Any]:
    samples = timing.samples
    by_kind: dict[str, Any] = {}
    for kind in KINDS:
        picked = [s for i, s in enumerate(samples) if cases[i % len(cases)].expect == kind]
        if picked:
            by_kind[kind] = {
                "p50_us": percentile_us(picked, 50),
                "p99_us": percentile_us(picked, 99),
                "samples": len(picked),
            }
    return {
        "p50_us": percentile_us(samples, 50),
        "p99_us": percentile_us(samples, 99),
        "mean_us": sum(samples) / len(samples) / 1000,
        "max_us": max(samples) / 1000,
        "gc_collections": timing.gc_collections,
        "by_decision": by_kind,
    }


# --- report -------------------------------------------------------------------------------


def policy_stats(policy: Policy, cedar: CedarEngine) -> dict[str, int]:
    grants = [grant for agent in policy.agents.values() for grant in agent.grants]
    return {
        "agents": len(policy.agents),
        "grants": len(grants),
        "wildcard_grants": sum("*" in grant.matcher.pattern for grant in grants),
        "grant_conditions": sum(grant.when is not None for grant in grants),
        "approval_rules": sum(not isinstance(grant.approval, str | None) for grant in grants),
        "untrusted_rules": sum(grant.untrusted is not None for grant in grants),
        "limits": sum(len(grant.limits) for grant in grants),
        "data_scopes": sum(agent.scope is not None for agent in policy.agents.values()),
        "role_permissions": sum(len(perms) for perms in policy.permissions.values()),
        "roles": len(policy.permissions),
        "users": len(policy.spec.users),
        "tools": len(policy.tools),
        "cedar_policies": cedar.count,
    }


def targets(tether: dict[str, Any], cedar: dict[str, Any]) -> dict[str, Any]:
    ratio_p50 = cedar["p50_us"] / tether["p50_us"]
    ratio_p99 = cedar["p99_us"] / tether["p99_us"]
    checks = {
        "tether_p50": {
            "value": tether["p50_us"],
            "target": f"<= {TARGET_P50_US:g} µs",
            "met": tether["p50_us"] <= TARGET_P50_US,
        },
        "tether_p99": {
            "value": tether["p99_us"],
            "target": f"<= {TARGET_P99_US:g} µs",
            "met": tether["p99_us"] <= TARGET_P99_US,
        },
        "speedup_p50": {
            "value": ratio_p50,
            "target": f">= {TARGET_SPEEDUP:g}x",
            "met": ratio_p50 >= TARGET_SPEEDUP,
        },
        "speedup_p99": {
            "value": ratio_p99,
            "target": f">= {TARGET_SPEEDUP:g}x",
            "met": ratio_p99 >= TARGET_SPEEDUP,
        },
    }
    return {"ratio": {"p50": ratio_p50, "p99": ratio_p99}, "checks": checks}


def print_report(result: dict[str, Any]) -> None:
    stats, engines, verdict = result["policy"], result["engines"], result["targets"]
    mix = result["workload"]["by_decision"]
    print(
        f"policy: {stats['agents']} agents, {stats['grants']} grants "
        f"({stats['wildcard_grants']} wildcards, {stats['grant_conditions']} with conditions), "
        f"{stats['approval_rules']} approval rules, {stats['untrusted_rules']} untrusted-run "
        f"rules, {stats['data_scopes']} data scopes, {stats['role_permissions']} role "
        f"permissions; {stats['tools']} tools; Cedar: {stats['cedar_policies']} policies"
    )
    print(
        f"workload: {result['workload']['calls']} calls ({mix['allow']} allow, {mix['deny']} deny, "
        f"{mix['needs_approval']} needs_approval), decided alike by both engines; "
        f"{result['iterations']} timed decisions per engine after {result['warmup']} warm-up; "
        f"timer overhead {result['timer_overhead_ns']} ns (not subtracted)"
    )
    print(f"cedarpy: {result['cedar_setup']}")
    collections = ", ".join(f"{name} {data['gc_collections']}" for name, data in engines.items())
    print(f"garbage collections while timed: {collections}")
    print()
    print(f"{'engine':<16}{'p50 µs':>10}{'p99 µs':>10}{'mean µs':>10}")
    for name, data in engines.items():
        print(f"{name:<16}{data['p50_us']:>10.1f}{data['p99_us']:>10.1f}{data['mean_us']:>10.1f}")
    ratio = verdict["ratio"]
    print(f"{'cedarpy/tether':<16}{ratio['p50']:>9.2f}x{ratio['p99']:>9.2f}x")
    print()
    print(f"{'by decision':<16}" + "".join(f"{kind:>24}" for kind in KINDS))
    for name, data in engines.items():
        cells = []
        for kind in KINDS:
            part = data["by_decision"].get(kind)
            cells.append(f"{part['p50_us']:>11.1f} /{part['p99_us']:>7.1f} µs" if part else "")
        print(f"{name:<16}" + "".join(f"{cell:>24}" for cell in cells))
    print(f"{'':<16}" + "".join(f"{'(p50 / p99)':>24}" for _ in KINDS))
    print()
    labels = {
        "tether_p50": "tether p50",
        "tether_p99": "tether p99",
        "speedup_p50": "cedarpy/tether p50",
        "speedup_p99": "cedarpy/tether p99",
    }
    for key, check in verdict["checks"].items():
        unit = "x" if key.startswith("speedup") else " µs"
        met = "met" if check["met"] else "NOT MET"
        print(f"{labels[key]:<22}{check['value']:>8.2f}{unit:<4}{check['target']:<12}{met}")


def environment() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.system(),
        "tether": package_version("tether"),
        "cedarpy": package_version("cedarpy"),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--iterations",
        type=int,
        default=20_000,
        metavar="N",
        help="timed decisions per engine (default 20000)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2_000,
        metavar="N",
        help="untimed decisions per engine first (default 2000)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--check-targets", action="store_true", help="exit 2 when a target is not met"
    )
    args = parser.parse_args(argv)
    if args.iterations < 100 or args.warmup < 0:
        parser.error("--iterations must be at least 100 and --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    policy = load_tether_policy()
    cedar = CedarEngine.load(policy)
    workload = build_workload(policy)
    tether_decide, cedar_decide = tether_decider(policy), cedar.decider()

    disagreements, unexpected = compare(workload, tether_decide, cedar_decide)
    for mismatch in disagreements:
        print(
            f"DISAGREEMENT {mismatch.case!r}: tether {mismatch.tether}, cedarpy {mismatch.cedar}",
            file=sys.stderr,
        )
    for mismatch in unexpected:
        print(
            f"UNEXPECTED {mismatch.case!r}: tether {mismatch.tether}, "
            f"the workload expects {mismatch.expected}",
            file=sys.stderr,
        )
    if disagreements or unexpected:
        return 1

    engines = {
        "tether": summary(
            measure(tether_decide, workload.calls, args.iterations, args.warmup), workload.cases
        ),
        "cedarpy": summary(
            measure(cedar_decide, workload.requests, args.iterations, args.warmup), workload.cases
        ),
    }
    verdict = targets(engines["tether"], engines["cedarpy"])
    result = {
        "policy": policy_stats(policy, cedar),
        "workload": {
            "calls": len(workload.cases),
            "by_decision": {k: sum(c.expect == k for c in workload.cases) for k in KINDS},
            "agreement": True,
        },
        "cedar_setup": CEDAR_SETUP,
        "iterations": args.iterations,
        "warmup": args.warmup,
        "timer_overhead_ns": timer_overhead_ns(),
        "engines": engines,
        "targets": verdict,
        "all_targets_met": all(check["met"] for check in verdict["checks"].values()),
        "environment": environment(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 2 if args.check_targets and not result["all_targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
