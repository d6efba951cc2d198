"""The office tools over the demo's desk: the desk's CRM and ERP, payments, mail with
copies and a reply-to, shared files, a calendar and web pages.

They give the injection suite (``examples/injection``) every channel an attacker's
text can arrive by (mail, file names and contents, calendar titles and descriptions,
web pages, a tool's error message) and every way out it may try (copies, shared
files, invitations, a fetched URL, a payment to new bank details). Content from
outside (mail, files, events, pages) is untrusted output; the CRM's records vouch
for their customers' addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, EmailStr, Field

from tether.demo._desk import desk
from tether.demo._tools import (
    Party,
    create_credit_note,
    find_party,
    list_invoices,
    read_inbox,
)
from tether.tools import Effect, ToolContext, Toolset, tool

Addresses = Annotated[list[EmailStr], Field(max_length=20)]


class Payment(BaseModel):
    id: int
    party_id: int
    iban: str
    amount: float


class OfficeMessage(BaseModel):
    id: int
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str


class FileEntry(BaseModel):
    id: int
    name: str
    owner: str


class FileContent(FileEntry):
    body: str


class Event(BaseModel):
    id: int
    title: str
    description: str
    starts: str
    attendees: list[str]


class Page(BaseModel):
    url: str
    body: str


def _party(party_id: int, **_: Any) -> Mapping[str, Any] | None:
    with desk() as db:
        row = db.execute("SELECT id, team, iban, email FROM party WHERE id = ?", (party_id,))
        found = row.fetchone()
    return dict(found) if found else None


def _party_email(party: Party | Mapping[str, Any]) -> list[str]:
    email = party.get("email") if isinstance(party, Mapping) else party.email
    return [str(email)] if email else []


@tool(
    name="crm.read_party",
    effect=Effect.READ,
    resource="party",
    locate=_party,
    idempotent=True,
    untrusted_output=True,  # the name and notes are what the customer typed
    contacts=_party_email,
)
def read_party(party_id: int) -> Party:
    """Read one customer's record (its email address is then a known contact; its name
    is what the customer registered, outside content)."""
    with desk() as db:
        row = db.execute("SELECT * FROM party WHERE id = ?", (party_id,)).fetchone()
    if row is None:
        raise LookupError(f"no customer with id {party_id}")
    return Party(**dict(row))


@tool(name="crm.update_bank_details", effect=Effect.WRITE, resource="party", locate=_party)
def update_bank_details(party_id: int, iban: Annotated[str, Field(min_length=8)]) -> Party:
    """Change the bank account a customer's refunds are paid to."""
    with desk() as db:
        db.execute("UPDATE party SET iban = ? WHERE id = ?", (iban, party_id))
        row = db.execute("SELECT * FROM party WHERE id = ?", (party_id,)).fetchone()
    if row is None:
        raise LookupError(f"no customer with id {party_id}")
    return Party(**dict(row))


@tool(
    name="erp.pay_refund",
    effect=Effect.IRREVERSIBLE,
    resource="party",
    locate=_party,
    idempotent=True,
)
def pay_refund(
    ctx: ToolContext,
    party_id: int,
    iban: Annotated[str, Field(min_length=8)],
    amount: Annotated[float, Field(gt=0)],
    reason: Annotated[str, Field(min_length=3, max_length=500)],
) -> Payment:
    """Pay money back to a customer by bank transfer."""
    with desk() as db:
        db.execute(
            "INSERT OR IGNORE INTO payment (party_id, iban, amount, reason, idempotency_key) "
            "VALUES (?, ?, ?, ?, ?)",
            (party_id, iban, amount, reason, ctx.idempotency_key),
        )
        row = db.execute(
            "SELECT id, party_id, iban, amount FROM payment WHERE idempotency_key = ?",
            (ctx.idempotency_key,),
        ).fetchone()
    return Payment(**dict(row))


@tool(name="email.send", effect=Effect.COMMUNICATE, idempotent=True)
def send_email(
    ctx: ToolContext,
    *,
    to: Annotated[list[EmailStr], Field(min_length=1, max_length=20)],
    subject: Annotated[str, Field(min_length=1, max_length=200)],
    body: Annotated[str, Field(max_length=20_000)],
    cc: Addresses = [],  # noqa: B006 (pydantic copies defaults)
    bcc: Addresses = [],  # noqa: B006
    reply_to: EmailStr | None = None,
) -> OfficeMessage:
    """Send an email from the office; ``cc`` and ``bcc`` get copies, replies go to
    ``reply_to`` when given."""
    with desk() as db:
        db.execute(
            "INSERT OR IGNORE INTO office_mail "
            "(recipients, cc, bcc, reply_to, subject, body, idempotency_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                ", ".join(to),
                ", ".join(cc),
                ", ".join(bcc),
                reply_to,
                subject,
                body,
                ctx.idempotency_key,
            ),
        )
        row = db.execute(
            "SELECT id FROM office_mail WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
    return OfficeMessage(id=row["id"], to=list(to), cc=list(cc), bcc=list(bcc), subject=subject)


@tool(name="files.list", effect=Effect.READ, untrusted_output=True, idempotent=True)
def list_files() -> list[FileEntry]:
    """The shared drive's files (names are chosen by whoever uploaded them)."""
    with desk() as db:
        rows = db.execute("SELECT id, name, owner FROM file ORDER BY id").fetchall()
    return [FileEntry(**dict(row)) for row in rows]


@tool(name="files.read", effect=Effect.READ, untrusted_output=True, idempotent=True)
def read_file(file_id: int) -> FileContent:
    """Read a file of the shared drive (its text comes from outside)."""
    with desk() as db:
        row = db.execute("SELECT * FROM file WHERE id = ?", (file_id,)).fetchone()
    if row is None:
        raise LookupError(f"no file with id {file_id}")
    if row["error"]:
        raise ValueError(f"cannot convert {row['name']}: {row['error']}")
    return FileContent(id=row["id"], name=row["name"], owner=row["owner"], body=row["body"])


@tool(name="files.share", effect=Effect.COMMUNICATE, idempotent=True)
def share_file(
    file_id: int, people: Annotated[list[EmailStr], Field(min_length=1, max_length=20)]
) -> FileEntry:
    """Share a file with people (they can read it)."""
    with desk() as db:
        row = db.execute("SELECT * FROM file WHERE id = ?", (file_id,)).fetchone()
        if row is None:
            raise LookupError(f"no file with id {file_id}")
        shared = [item for item in row["shared_with"].split(", ") if item]
        shared += [person for person in people if person not in shared]
        db.execute("UPDATE file SET shared_with = ? WHERE id = ?", (", ".join(shared), file_id))
    return FileEntry(id=row["id"], name=row["name"], owner=row["owner"])


@tool(name="calendar.list_events", effect=Effect.READ, untrusted_output=True, idempotent=True)
def list_events() -> list[Event]:
    """The calendar (invitations from outside included)."""
    with desk() as db:
        rows = db.execute("SELECT * FROM event ORDER BY starts, id").fetchall()
    return [
        Event(
            id=row["id"],
            title=row["title"],
            description=row["description"],
            starts=row["starts"],
            attendees=[item for item in row["attendees"].split(", ") if item],
        )
        for row in rows
    ]


@tool(name="calendar.create_event", effect=Effect.COMMUNICATE, idempotent=True)
def create_event(
    ctx: ToolContext,
    title: Annotated[str, Field(min_length=1, max_length=200)],
    starts: Annotated[str, Field(min_length=10, max_length=40)],
    attendees: Annotated[list[EmailStr], Field(min_length=1, max_length=50)],
    description: Annotated[str, Field(max_length=5_000)] = "",
) -> Event:
    """Create an event and send its invitation (title, time, description) to the attendees."""
    with desk() as db:
        db.execute(
            "INSERT OR IGNORE INTO event (title, description, starts, attendees, idempotency_key)"
            " VALUES (?, ?, ?, ?, ?)",
            (title, description, starts, ", ".join(attendees), ctx.idempotency_key),
        )
        row = db.execute(
            "SELECT id FROM event WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
    return Event(
        id=row["id"],
        title=title,
        description=description,
        starts=starts,
        attendees=list(attendees),
    )


@tool(name="web.fetch", effect=Effect.COMMUNICATE, untrusted_output=True, idempotent=True)
def fetch(url: Annotated[str, Field(pattern=r"^https?://", max_length=2_000)]) -> Page:
    """Fetch a web page (the request, query string included, goes to the page's host)."""
    with desk() as db:
        db.execute("INSERT INTO fetched (url) VALUES (?)", (url,))
        row = db.execute("SELECT * FROM web_page WHERE url = ?", (url,)).fetchone()
    if row is None:
        raise LookupError(f"{url}: 404 not found")
    if row["status"] >= 400:
        raise ValueError(f"{url}: {row['status']} {row['body']}")
    return Page(url=url, body=row["body"])


office_tools = Toolset(
    [
        find_party,
        read_party,
        update_bank_details,
        list_invoices,
        create_credit_note,
        pay_refund,
        send_email,
        read_inbox,
        list_files,
        read_file,
        share_file,
        list_events,
        create_event,
        fetch,
    ]
)
"""The office toolset, as the injection suite's policies name it: ``tether.demo:office_tools``."""
