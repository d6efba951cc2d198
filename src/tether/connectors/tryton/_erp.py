"""The ERP tools: products, sales and invoices (``erp.*``), each declared with its
metadata beside it.

As in ``_crm.py``: write tools preview their diff and read back what they changed; a
created sale carries ``tether:sale.sale:<idempotency key>`` in its comment, so a
repeated call returns it; confirming a sale and crediting an invoice cannot be undone,
and are located (``resource.total_amount``, ``resource.party_id``) for policies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from tether.connectors.tryton import _readback
from tether.connectors.tryton._client import TrytonError
from tether.connectors.tryton._records import (
    SALE_DONE,
    ConfirmedSale,
    CreatedSale,
    CreditNote,
    Invoice,
    InvoiceState,
    Limit,
    Product,
    RecordChange,
    SaleLine,
    TrytonRecords,
    diff,
    marker,
    money,
    nested,
    tool_errors,
)
from tether.tools import Effect, ToolContext, declare


class ErpTools(TrytonRecords):
    """``erp.*``: the product list, sales (create, confirm), invoices (list, credit)."""

    @declare(name="erp.list_products", effect=Effect.READ, resource="product")
    def list_products(self, query: str = "", limit: Limit = 50) -> list[Product]:
        """Salable products with their code and list price."""
        domain: list[Any] = [("salable", "=", True)]
        if query:
            domain.append(["OR", ("name", "ilike", f"%{query}%"), ("code", "ilike", f"%{query}%")])
        with tool_errors("erp.list_products"):
            rows = self.client.search_read(
                "product.product",
                domain,
                ["rec_name", "code", "template.list_price"],
                limit=limit,
            )
        return [
            {
                "id": r["id"],
                "code": r.get("code"),
                "name": r["rec_name"],
                "list_price": money(nested(r, "template", "list_price")),
            }
            for r in rows
        ]

    # --- sales --------------------------------------------------------------------------

    def create_sale_preview(
        self, party_id: int, lines: list[SaleLine], description: str | None = None
    ) -> RecordChange:
        party = self.party(party_id)
        priced = self.product_lines(lines)
        after = {
            "party": party["name"],
            "description": description,
            "state": "draft",
            "lines": [
                {
                    "product_id": v["product"],
                    "quantity": v["quantity"],
                    "unit_price": str(v["unit_price"]),
                }
                for v in priced
            ],
        }
        return {
            "action": "create",
            "model": "sale.sale",
            "record_id": None,
            "changes": diff({}, {k: v for k, v in after.items() if v is not None}),
        }

    @declare(
        name="erp.create_sale",
        effect=Effect.WRITE,
        resource="sale",
        idempotent=True,
        preview="create_sale_preview",
        read_back=_readback.create_sale,
        targets=("party_id",),
    )
    def create_sale(
        self,
        ctx: ToolContext,
        party_id: int,
        lines: Annotated[list[SaleLine], Field(min_length=1, max_length=100)],
        description: Annotated[str, Field(max_length=500)] | None = None,
    ) -> CreatedSale:
        """Create a draft sale order (quotation) for a customer.

        A repeated call with the same key returns the first sale."""
        key = marker("sale.sale", ctx.idempotency_key)
        with tool_errors("erp.create_sale"), self.create_lock:
            existing = self.by_marker("sale.sale", [("comment", "=", key)])
            if existing is not None:
                return {**self.sale(existing), "created": False}
            defaults = self.party_defaults(party_id)
            values: dict[str, Any] = {
                "party": party_id,
                "invoice_address": defaults["address"],
                "shipment_address": defaults["address"],
                "payment_term": defaults["payment_term"],
                "comment": key,
                "lines": [["create", self.product_lines(lines)]],
            }
            if description:
                values["description"] = description
            sale_id = self.client.create("sale.sale", values)
            return {**self.sale(sale_id), "created": True}

    def confirm_preview(self, sale_id: int) -> RecordChange:
        current = self.sale(sale_id)
        target = current["state"] if current["state"] in SALE_DONE else "confirmed"
        return {
            "action": "update" if target != current["state"] else "none",
            "model": "sale.sale",
            "record_id": sale_id,
            "changes": diff(dict(current), {"state": target}),
            "total_amount": current["total_amount"],
            "party": current["party"],
        }

    @declare(
        name="erp.confirm_sale",
        effect=Effect.IRREVERSIBLE,
        resource="sale",
        locate="locate_sale",
        idempotent=True,
        preview="confirm_preview",
        read_back=_readback.confirm_sale,
        targets=("sale_id",),
    )
    def confirm_sale(self, sale_id: int) -> ConfirmedSale:
        """Confirm a sale order: it becomes binding (shipments, invoices). Cannot be undone.

        A sale already confirmed is left as it is."""
        with tool_errors("erp.confirm_sale"):
            current = self.sale(sale_id)
            state = current["state"]
            if state in SALE_DONE:
                return {**current, "confirmed_now": False}
            if state == "cancelled":
                raise TrytonError(f"sale {sale_id} is cancelled: cannot confirm")
            if state == "draft":
                self.client.button("sale.sale", "quote", [sale_id])
            self.client.button("sale.sale", "confirm", [sale_id])
            return {**self.sale(sale_id), "confirmed_now": True}

    # --- invoices -----------------------------------------------------------------------

    @declare(
        name="erp.list_invoices",
        effect=Effect.READ,
        resource="invoice",
        vouches=("id", "number"),  # the ERP's own records: what an invoice's id is
    )
    def list_invoices(
        self, party_id: int | None = None, state: InvoiceState | None = None, limit: Limit = 20
    ) -> list[Invoice]:
        """Customer invoices and credit notes, newest first."""
        domain: list[Any] = [("type", "=", "out")]
        if party_id is not None:
            domain.append(("party", "=", party_id))
        if state is not None:
            domain.append(("state", "=", state))
        with tool_errors("erp.list_invoices"):
            return self.invoices(domain, limit=limit)

    def credit_preview(self, invoice_id: int) -> RecordChange:
        current = self.invoice(invoice_id)
        existing = self.credits_of(invoice_id)
        if existing:
            return {
                "action": "none",
                "model": "account.invoice",
                "record_id": invoice_id,
                "changes": {},
                "note": f"already credited by invoice {existing[0]}",
            }
        total = Decimal(current["total_amount"] or "0")
        return {
            "action": "create",
            "model": "account.invoice",
            "record_id": None,
            "changes": diff(
                {},
                {
                    "credits_invoice": current["number"],
                    "party": current["party"],
                    "total_amount": str(-total),
                    "state": "paid",
                },
            ),
            "invoice": {
                "id": invoice_id,
                "changes": diff(dict(current), {"state": "cancelled"}),
            },
        }

    @declare(
        name="erp.issue_credit_note",
        effect=Effect.IRREVERSIBLE,
        resource="invoice",
        locate="locate_invoice",
        idempotent=True,
        preview="credit_preview",
        read_back=_readback.issue_credit_note,
        targets=("invoice_id",),
    )
    def issue_credit_note(self, invoice_id: int) -> CreditNote:
        """Credit a posted customer invoice in full (a refund): the credit note is posted
        against it and the invoice is cancelled. Cannot be undone. An invoice is credited
        at most once: a repeated call returns the existing credit note."""
        with tool_errors("erp.issue_credit_note"):
            current = self.invoice(invoice_id)
            existing = self.credits_of(invoice_id)
            if existing:
                return {"credit_note": self.invoice(existing[0]), "created": False}
            if current["state"] != "posted":
                raise TrytonError(
                    f"invoice {invoice_id} is {current['state']}: only posted invoices "
                    "can be credited"
                )
            self.client.run_wizard(
                "account.invoice.credit",
                "account.invoice",
                [invoice_id],
                "credit",
                {"start": {"with_refund": True, "invoice_date": None}},
            )
            created = self.credits_of(invoice_id)
            if not created:
                raise TrytonError(f"no credit note was created for invoice {invoice_id}")
            return {
                "credit_note": self.invoice(created[0]),
                "invoice": self.invoice(invoice_id),
                "created": True,
            }
