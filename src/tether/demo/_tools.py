"""The demo's tools: CRM, ERP and email over the local desk, with real metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field

from tether.demo._desk import desk
from tether.tools import Effect, ReadBack, ToolContext, Toolset, tool


class PartySummary(BaseModel):
    id: int
    name: str
    team: str


class Party(PartySummary):
    email: str | None
    phone: str | None
    iban: str | None


class Invoice(BaseModel):
    id: int
    number: str
    party_id: int
    total: float
    state: str


class CreditNote(BaseModel):
    id: int
    invoice_id: int
    amount: float
    reason: str


class SentMessage(BaseModel):
    id: int
    to: list[str]
    subject: str


class InboundMessage(BaseModel):
    id: int
    sender: str
    subject: str
    body: str


def _party_of(party_id: int, **_: Any) -> Mapping[str, Any] | None:
    with desk() as db:
        row = db.execute("SELECT id, team FROM party WHERE id = ?", (party_id,)).fetchone()
    return dict(row) if row else None


def _invoice_owner(invoice_id: int, **_: Any) -> Mapping[str, Any] | None:
    with desk() as db:
        row = db.execute(
            "SELECT invoice.id, invoice.total, party.team, party.id AS party_id FROM invoice "
            "JOIN party ON party.id = invoice.party_id WHERE invoice.id = ?",
            (invoice_id,),
        ).fetchone()
    return dict(row) if row else None


@tool(name="crm.find_party", effect=Effect.READ, idempotent=True)
def find_party(name: Annotated[str, Field(min_length=2)]) -> list[PartySummary]:
    """Find customers whose name contains the text."""
    with desk() as db:
        rows = db.execute(
            "SELECT id, name, team FROM party WHERE name LIKE ? ORDER BY id", (f"%{name}%",)
        ).fetchall()
    return [PartySummary(**dict(row)) for row in rows]


@tool(
    name="crm.read_party", effect=Effect.READ, resource="party", locate=_party_of, idempotent=True
)
def read_party(party_id: int) -> Party:
    """Read one customer's record."""
    with desk() as db:
        row = db.execute("SELECT * FROM party WHERE id = ?", (party_id,)).fetchone()
    if row is None:
        raise LookupError(f"no customer with id {party_id}")
    return Party(**dict(row))


@tool(name="crm.delete_party", effect=Effect.IRREVERSIBLE, resource="party", locate=_party_of)
def delete_party(party_id: int) -> bool:
    """Delete a customer and everything about them."""
    with desk() as db:
        return db.execute("DELETE FROM party WHERE id = ?", (party_id,)).rowcount == 1


@tool(
    name="erp.list_invoices",
    effect=Effect.READ,
    resource="party",
    locate=_party_of,
    idempotent=True,
)
def list_invoices(party_id: int) -> list[Invoice]:
    """List a customer's invoices."""
    with desk() as db:
        rows = db.execute(
            "SELECT id, number, party_id, total, state FROM invoice WHERE party_id = ? ORDER BY id",
            (party_id,),
        ).fetchall()
    return [Invoice(**dict(row)) for row in rows]


def _credit_note_in_desk(_args: dict[str, Any], answer: CreditNote) -> dict[str, Any] | None:
    """The credit note as the desk's database holds it after the call."""
    with desk() as db:
        row = db.execute(
            "SELECT id, invoice_id, amount, reason, voided FROM credit_note WHERE id = ?",
            (answer.id,),
        ).fetchone()
    return None if row is None else dict(row)


def _credit_note_asked(args: dict[str, Any], _answer: CreditNote) -> dict[str, Any]:
    return {"invoice_id": args["invoice_id"], "amount": args["amount"], "voided": 0}


def _sent_mail_in_desk(_args: dict[str, Any], answer: SentMessage) -> dict[str, Any] | None:
    with desk() as db:
        row = db.execute(
            "SELECT id, recipients, subject FROM sent_mail WHERE id = ?", (answer.id,)
        ).fetchone()
    if row is None:
        return None
    return {"id": row["id"], "to": row["recipients"].split(", "), "subject": row["subject"]}


def _void_args(args: dict[str, Any], result: Any) -> dict[str, Any]:
    return {"credit_note_id": result["id"]}


@tool(
    name="erp.create_credit_note",
    effect=Effect.IRREVERSIBLE,
    resource="invoice",
    locate=_invoice_owner,
    idempotent=True,
    reversed_by="erp.void_credit_note",
    reverse_args=_void_args,
    read_back=ReadBack(after=_credit_note_in_desk, expect=_credit_note_asked, system="desk"),
)
def create_credit_note(
    ctx: ToolContext,
    invoice_id: int,
    amount: Annotated[float, Field(gt=0)],
    reason: Annotated[str, Field(min_length=3, max_length=500)],
) -> CreditNote:
    """Refund part or all of an invoice with a credit note."""
    with desk() as db:
        existing = db.execute(
            "SELECT * FROM credit_note WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
        if existing is None:
            invoice = db.execute("SELECT total FROM invoice WHERE id = ?", (invoice_id,)).fetchone()
            if invoice is None:
                raise LookupError(f"no invoice with id {invoice_id}")
            if amount > invoice["total"]:
                raise ValueError(f"amount {amount} exceeds the invoice total {invoice['total']}")
            db.execute(
                "INSERT INTO credit_note (invoice_id, amount, reason, idempotency_key) "
                "VALUES (?, ?, ?, ?)",
                (invoice_id, amount, reason, ctx.idempotency_key),
            )
            existing = db.execute(
                "SELECT * FROM credit_note WHERE idempotency_key = ?", (ctx.idempotency_key,)
            ).fetchone()
    return CreditNote(**{k: existing[k] for k in ("id", "invoice_id", "amount", "reason")})


@tool(name="erp.void_credit_note", effect=Effect.WRITE, idempotent=True)
def void_credit_note(credit_note_id: int) -> bool:
    """Void a credit note that should not have been issued."""
    with desk() as db:
        db.execute("UPDATE credit_note SET voided = 1 WHERE id = ?", (credit_note_id,))
        row = db.execute(
            "SELECT voided FROM credit_note WHERE id = ?", (credit_note_id,)
        ).fetchone()
    if row is None:
        raise LookupError(f"no credit note with id {credit_note_id}")
    return bool(row["voided"])


@tool(
    name="email.send",
    effect=Effect.COMMUNICATE,
    idempotent=True,
    recipients=("to",),
    targets=("to",),
    read_back=ReadBack(after=_sent_mail_in_desk, system="desk"),
)
def send_email(
    ctx: ToolContext,
    to: Annotated[list[str], Field(min_length=1, max_length=20)],
    subject: Annotated[str, Field(min_length=1, max_length=200)],
    body: Annotated[str, Field(max_length=20_000)],
) -> SentMessage:
    """Send an email from the support desk."""
    with desk() as db:
        db.execute(
            "INSERT OR IGNORE INTO sent_mail (recipients, subject, body, idempotency_key) "
            "VALUES (?, ?, ?, ?)",
            (", ".join(to), subject, body, ctx.idempotency_key),
        )
        row = db.execute(
            "SELECT id FROM sent_mail WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
    return SentMessage(id=row["id"], to=to, subject=subject)


@tool(
    name="email.read_inbox",
    effect=Effect.READ,
    untrusted_fields=("sender", "subject", "body"),  # the inbox's own ids are not outside content
    idempotent=True,
)
def read_inbox() -> list[InboundMessage]:
    """Read the support inbox. Messages come from outside the company."""
    with desk() as db:
        rows = db.execute("SELECT id, sender, subject, body FROM inbox ORDER BY id").fetchall()
    return [InboundMessage(**dict(row)) for row in rows]


desk_tools = Toolset(
    [
        find_party,
        read_party,
        delete_party,
        list_invoices,
        create_credit_note,
        void_credit_note,
        send_email,
        read_inbox,
    ]
)
"""The demo's toolset, as the example policy names it: ``tether.demo:desk_tools``."""
