"""Tryton records as the tools return them: typed rows, and the reads that make them.

Every tool's answer is one of the typed dictionaries here (the gate validates it
against the tool's return type); :class:`TrytonRecords` reads them over one
:class:`TrytonClient`, and is what the tools, their previews and their read-backs
(``_readback.py``) share. Tryton's errors become :class:`~tether.errors.ToolCallError`
with a message for the model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from tether.connectors.tryton._client import TrytonClient, TrytonError
from tether.errors import ToolCallError

Limit = Annotated[int, Field(ge=1, le=200)]
Quantity = Annotated[float, Field(gt=0, le=1_000_000)]
Amount = Annotated[Decimal, Field(ge=0, le=100_000_000, decimal_places=2)]
Money = str | None
"""An amount as Tryton's decimal text (``"120.00"``), or None."""

OpportunityState = Literal["lead", "opportunity", "converted", "won", "lost", "cancelled"]
InvoiceState = Literal["draft", "validated", "posted", "paid", "cancelled"]

SALE_DONE = frozenset({"confirmed", "processing", "done"})
"""States of a sale that is confirmed already."""

_INVOICE_FIELDS = [
    "number",
    "type",
    "state",
    "party",
    "party.rec_name",
    "invoice_date",
    "total_amount",
    "description",
]


class SaleLine(BaseModel):
    """One line of a sale or an opportunity."""

    model_config = ConfigDict(extra="forbid")

    product_id: int
    """The product (see ``erp.list_products``)."""
    quantity: Quantity = 1
    """How many units."""
    unit_price: Amount | None = None
    """Price per unit; the product's list price when omitted."""


# --- what the tools answer ---------------------------------------------------------------


class PartySummary(TypedDict):
    id: int
    code: str | None
    name: str
    email: str | None
    phone: str | None


class Address(TypedDict):
    id: int
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None


class Party(PartySummary):
    city: str | None
    """The first address's city."""
    addresses: list[Address]
    active: bool


class CreatedParty(Party):
    created: bool
    """False when a call with the same key had created it already."""


class Opportunity(TypedDict):
    id: int
    number: str | None
    description: str | None
    state: str
    amount: Money
    party_id: int | None
    party: str | None
    start_date: str | None
    sale_ids: list[int]


class CreatedOpportunity(Opportunity):
    created: bool


class SaleLineRow(TypedDict):
    product_id: int | None
    product: str | None
    quantity: float
    unit_price: Money
    amount: Money


class Sale(TypedDict):
    id: int
    number: str | None
    state: str
    party_id: int | None
    party: str | None
    description: str | None
    untaxed_amount: Money
    total_amount: Money
    lines: list[SaleLineRow]


class CreatedSale(Sale):
    created: bool


class ConfirmedSale(Sale):
    confirmed_now: bool
    """False when it was confirmed already (nothing was done)."""


class Conversion(TypedDict):
    opportunity: Opportunity
    sale: Sale
    created: bool


class Product(TypedDict):
    id: int
    code: str | None
    name: str
    list_price: Money


class Invoice(TypedDict):
    id: int
    number: str | None
    kind: Literal["invoice", "credit_note"]
    state: str
    party_id: int | None
    party: str | None
    invoice_date: str | None
    total_amount: Money
    description: str | None


class CreditNote(TypedDict):
    credit_note: Invoice
    invoice: NotRequired[Invoice]
    """The invoice it credits, as it is now (when this call created the note)."""
    created: bool


class FieldChange(TypedDict):
    before: Any
    after: Any


class RecordChange(TypedDict):
    """A preview, or an update's answer: what changes on which record."""

    action: Literal["create", "update", "none"]
    model: str
    record_id: int | None
    changes: dict[str, FieldChange]
    note: NotRequired[str]
    creates: NotRequired[dict[str, Any]]
    invoice: NotRequired[dict[str, Any]]
    total_amount: NotRequired[Money]
    party: NotRequired[str | None]


class Located(TypedDict):
    """The record a consequential call targets, for policies and data scopes."""

    model: str
    id: int
    party_id: int | None
    state: str
    total_amount: float


# --- helpers -------------------------------------------------------------------------------


def marker(model: str, key: str) -> str:
    """What a creating tool stores on its record to recognise a repeated call.

    Scoped by model: a sale converted from an opportunity copies its comment."""
    return f"tether:{model}:{key}"


@contextmanager
def tool_errors(name: str) -> Iterator[None]:
    """Tryton's errors as the tool's :class:`~tether.errors.ToolCallError`."""
    try:
        yield
    except TrytonError as exc:
        raise ToolCallError(name, exc.message) from None


def money(value: Any) -> Money:
    return None if value is None else str(value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, FieldChange]:
    """The fields of ``after`` that differ from ``before``."""
    return {
        key: {"before": before.get(key), "after": value}
        for key, value in after.items()
        if before.get(key) != value
    }


def nested(row: dict[str, Any], field: str, attribute: str = "rec_name") -> Any:
    value = row.get(f"{field}.")
    return value.get(attribute) if isinstance(value, dict) else None


# --- the reads -----------------------------------------------------------------------------


class TrytonRecords:
    """Reads the records the tools return, over one :class:`TrytonClient`."""

    def __init__(self, client: TrytonClient, *, create_lock: threading.Lock | None = None) -> None:
        self.client = client
        self.create_lock = create_lock or threading.Lock()
        """Held from looking for a creating call's marker until its record is created."""

    def party(self, party_id: int) -> Party:
        row = self.client.read_one(
            "party.party", party_id, ["name", "code", "email", "phone", "active", "addresses"]
        )
        addresses = self.client.search_read(
            "party.address",
            [("party", "=", party_id)],
            ["street", "postal_code", "city", "country.rec_name"],
        )
        return {
            "id": row["id"],
            "code": row["code"],
            "name": row["name"],
            "email": row.get("email") or None,
            "phone": row.get("phone") or None,
            "city": addresses[0]["city"] if addresses else None,
            "addresses": [
                {
                    "id": a["id"],
                    "street": a.get("street") or None,
                    "postal_code": a.get("postal_code") or None,
                    "city": a.get("city") or None,
                    "country": nested(a, "country"),
                }
                for a in addresses
            ],
            "active": bool(row["active"]),
        }

    def opportunity(self, opportunity_id: int) -> Opportunity:
        row = self.client.read_one(
            "sale.opportunity",
            opportunity_id,
            [
                "number",
                "description",
                "state",
                "amount",
                "party",
                "party.rec_name",
                "start_date",
                "sales",
            ],
        )
        return {
            "id": row["id"],
            "number": row["number"],
            "description": row.get("description"),
            "state": row["state"],
            "amount": money(row.get("amount")),
            "party_id": row.get("party"),
            "party": nested(row, "party"),
            "start_date": str(row["start_date"]) if row.get("start_date") else None,
            "sale_ids": row.get("sales") or [],
        }

    def sale(self, sale_id: int) -> Sale:
        row = self.client.read_one(
            "sale.sale",
            sale_id,
            [
                "number",
                "state",
                "party",
                "party.rec_name",
                "description",
                "total_amount",
                "untaxed_amount",
                "sale_date",
                "lines",
            ],
        )
        lines = self.client.search_read(
            "sale.line",
            [("sale", "=", sale_id), ("type", "=", "line")],
            ["product", "product.rec_name", "quantity", "unit_price", "amount"],
        )
        return {
            "id": row["id"],
            "number": row.get("number") or None,
            "state": row["state"],
            "party_id": row.get("party"),
            "party": nested(row, "party"),
            "description": row.get("description") or None,
            "untaxed_amount": money(row.get("untaxed_amount")),
            "total_amount": money(row.get("total_amount")),
            "lines": [
                {
                    "product_id": line.get("product"),
                    "product": nested(line, "product"),
                    "quantity": line["quantity"],
                    "unit_price": money(line.get("unit_price")),
                    "amount": money(line.get("amount")),
                }
                for line in lines
            ],
        }

    def invoice(self, invoice_id: int) -> Invoice:
        return invoice_row(self.client.read_one("account.invoice", invoice_id, _INVOICE_FIELDS))

    def invoices(self, domain: list[Any], *, limit: int) -> list[Invoice]:
        rows = self.client.search_read(
            "account.invoice",
            domain,
            _INVOICE_FIELDS,
            limit=limit,
            order=[("invoice_date", "DESC"), ("id", "DESC")],
        )
        return [invoice_row(row) for row in rows]

    def credits_of(self, invoice_id: int) -> list[int]:
        """The credit notes whose lines credit this invoice's lines."""
        lines = self.client.search_read(
            "account.invoice.line", [("invoice", "=", invoice_id)], ["id"]
        )
        origins = [f"account.invoice.line,{line['id']}" for line in lines]
        if not origins:
            return []
        rows = self.client.search_read(
            "account.invoice",
            [("id", "!=", invoice_id), ("lines.origin", "in", origins)],
            ["id"],
        )
        return [row["id"] for row in rows]

    def mechanism(self, party_id: int, kind: str) -> int | None:
        """The party's contact mechanism of ``kind`` (email, phone), if it has one."""
        rows = self.client.search_read(
            "party.contact_mechanism", [("party", "=", party_id), ("type", "=", kind)], ["id"]
        )
        return rows[0]["id"] if rows else None

    def by_marker(self, model: str, domain: list[Any]) -> int | None:
        """The record a creating call with this marker made, if one did."""
        rows = self.client.search_read(model, domain, ["id"], limit=1)
        return rows[0]["id"] if rows else None

    def product_lines(self, lines: list[SaleLine]) -> list[dict[str, Any]]:
        """Sale line values: unit, list price and customer taxes from the product."""
        values = []
        for line in lines:
            product = self.client.read_one(
                "product.product",
                line.product_id,
                ["default_uom", "template.list_price", "template.account_category", "salable"],
            )
            if not product.get("salable"):
                raise TrytonError(f"product {line.product_id} is not salable")
            list_price = nested(product, "template", "list_price")
            price = line.unit_price if line.unit_price is not None else list_price
            if price is None:
                raise TrytonError(f"product {line.product_id} has no list price: give unit_price")
            taxes: list[int] = []
            category = nested(product, "template", "account_category")
            if category is not None:
                taxes = self.client.read_one("product.category", category, ["customer_taxes"])[
                    "customer_taxes"
                ]
            values.append(
                {
                    "type": "line",
                    "product": line.product_id,
                    "quantity": line.quantity,
                    "unit": product["default_uom"],
                    "unit_price": Decimal(price),
                    "taxes": [["add", list(taxes)]],
                }
            )
        return values

    def party_defaults(self, party_id: int) -> dict[str, Any]:
        """The address and payment term a new sale or opportunity of the party gets."""
        row = self.client.read_one("party.party", party_id, ["customer_payment_term"])
        addresses = self.client.search_read("party.address", [("party", "=", party_id)], ["id"])
        if not addresses:
            raise TrytonError(f"party {party_id} has no address")
        return {
            "address": addresses[0]["id"],
            "payment_term": row.get("customer_payment_term"),
        }

    # --- targets, for policies (``resource.total_amount``) and data scopes -------------

    def locate_sale(self, sale_id: int, **_: Any) -> Located:
        sale = self.sale(sale_id)
        return {
            "model": "sale.sale",
            "id": sale_id,
            "party_id": sale["party_id"],
            "state": sale["state"],
            "total_amount": float(sale["total_amount"] or 0),
        }

    def locate_invoice(self, invoice_id: int, **_: Any) -> Located:
        invoice = self.invoice(invoice_id)
        return {
            "model": "account.invoice",
            "id": invoice_id,
            "party_id": invoice["party_id"],
            "state": invoice["state"],
            "total_amount": float(invoice["total_amount"] or 0),
        }


def invoice_row(row: dict[str, Any]) -> Invoice:
    total = row.get("total_amount")
    return {
        "id": row["id"],
        "number": row.get("number") or None,
        "kind": "credit_note" if total is not None and total < 0 else "invoice",
        "state": row["state"],
        "party_id": row.get("party"),
        "party": nested(row, "party"),
        "invoice_date": str(row["invoice_date"]) if row.get("invoice_date") else None,
        "total_amount": money(total),
        "description": row.get("description") or None,
    }
