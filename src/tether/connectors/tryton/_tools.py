"""Tryton tools: parties and opportunities (``crm.*``), products, sales, invoices (``erp.*``).

Write tools have a ``preview`` that reads the current record and returns the diff
(``{"action", "model", "record_id", "changes": {field: {"before", "after"}}}``)
without changing anything, and a ``read_back`` (``_readback.py``) that reads the record
from Tryton again after the call for the outcome record. Creating tools store
``tether:<model>:<idempotency key>`` on the record they create (a party identifier,
the ``comment`` of an opportunity or a sale) and look for it first: a repeated call
returns the record of the first one.
Tryton's errors become :class:`~tether.errors.ToolCallError` with a message for the model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tether.connectors.tryton import _readback
from tether.connectors.tryton._client import TrytonClient, TrytonError
from tether.errors import ToolCallError
from tether.tools import Effect, Tool, ToolContext, tool

Limit = Annotated[int, Field(ge=1, le=200)]
Quantity = Annotated[float, Field(gt=0, le=1_000_000)]
Amount = Annotated[Decimal, Field(ge=0, le=100_000_000, decimal_places=2)]

OpportunityState = Literal["lead", "opportunity", "converted", "won", "lost", "cancelled"]
InvoiceState = Literal["draft", "validated", "posted", "paid", "cancelled"]

_SALE_DONE = {"confirmed", "processing", "done"}


class SaleLine(BaseModel):
    """One line of a sale or an opportunity."""

    model_config = ConfigDict(extra="forbid")

    product_id: int
    """The product (see ``erp.list_products``)."""
    quantity: Quantity = 1
    """How many units."""
    unit_price: Amount | None = None
    """Price per unit; the product's list price when omitted."""


def marker(model: str, key: str) -> str:
    """What a creating tool stores on its record to recognise a repeated call.

    Scoped by model: a sale converted from an opportunity copies its comment."""
    return f"tether:{model}:{key}"


@contextmanager
def _errors(name: str) -> Iterator[None]:
    try:
        yield
    except TrytonError as exc:
        raise ToolCallError(name, exc.message) from None


def _money(value: Any) -> str | None:
    return None if value is None else str(value)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: {"before": before.get(key), "after": value}
        for key, value in after.items()
        if before.get(key) != value
    }


def _nested(row: dict[str, Any], field: str, attribute: str = "rec_name") -> Any:
    nested = row.get(f"{field}.")
    return nested.get(attribute) if isinstance(nested, dict) else None


class TrytonTools:
    """Builds the tools on one :class:`TrytonClient`."""

    def __init__(self, client: TrytonClient) -> None:
        self.client = client
        self._create_lock = threading.Lock()

    # --- reading helpers ----------------------------------------------------------

    def party(self, party_id: int) -> dict[str, Any]:
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
                    "country": _nested(a, "country"),
                }
                for a in addresses
            ],
            "active": bool(row["active"]),
        }

    def _mechanism(self, party_id: int, kind: str) -> int | None:
        rows = self.client.search_read(
            "party.contact_mechanism", [("party", "=", party_id), ("type", "=", kind)], ["id"]
        )
        return rows[0]["id"] if rows else None

    def _by_marker(self, model: str, domain: list[Any]) -> int | None:
        rows = self.client.search_read(model, domain, ["id"], limit=1)
        return rows[0]["id"] if rows else None

    def opportunity(self, opportunity_id: int) -> dict[str, Any]:
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
            "amount": _money(row.get("amount")),
            "party_id": row.get("party"),
            "party": _nested(row, "party"),
            "start_date": str(row["start_date"]) if row.get("start_date") else None,
            "sale_ids": row.get("sales") or [],
        }

    def sale(self, sale_id: int) -> dict[str, Any]:
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
            "party": _nested(row, "party"),
            "description": row.get("description") or None,
            "untaxed_amount": _money(row.get("untaxed_amount")),
            "total_amount": _money(row.get("total_amount")),
            "lines": [
                {
                    "product_id": line.get("product"),
                    "product": _nested(line, "product"),
                    "quantity": line["quantity"],
                    "unit_price": _money(line.get("unit_price")),
                    "amount": _money(line.get("amount")),
                }
                for line in lines
            ],
        }

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        row = self.client.read_one(
            "account.invoice",
            invoice_id,
            [
                "number",
                "type",
                "state",
                "party",
                "party.rec_name",
                "invoice_date",
                "total_amount",
                "description",
            ],
        )
        return _invoice_row(row)

    def _product_lines(self, lines: list[SaleLine]) -> list[dict[str, Any]]:
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
            list_price = _nested(product, "template", "list_price")
            price = line.unit_price if line.unit_price is not None else list_price
            if price is None:
                raise TrytonError(f"product {line.product_id} has no list price: give unit_price")
            taxes: list[int] = []
            category = _nested(product, "template", "account_category")
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

    def _party_defaults(self, party_id: int) -> dict[str, Any]:
        row = self.client.read_one("party.party", party_id, ["customer_payment_term"])
        addresses = self.client.search_read("party.address", [("party", "=", party_id)], ["id"])
        if not addresses:
            raise TrytonError(f"party {party_id} has no address")
        return {
            "address": addresses[0]["id"],
            "payment_term": row.get("customer_payment_term"),
        }

    # --- targets, for policies (``resource.total_amount``) and data scopes -------------

    def locate_sale(self, sale_id: int, **_: Any) -> dict[str, Any]:
        sale = self.sale(sale_id)
        return {
            "model": "sale.sale",
            "id": sale_id,
            "party_id": sale["party_id"],
            "state": sale["state"],
            "total_amount": float(sale["total_amount"] or 0),
        }

    def locate_invoice(self, invoice_id: int, **_: Any) -> dict[str, Any]:
        invoice = self.invoice(invoice_id)
        return {
            "model": "account.invoice",
            "id": invoice_id,
            "party_id": invoice["party_id"],
            "state": invoice["state"],
            "total_amount": float(invoice["total_amount"] or 0),
        }

    # --- the tools ------------------------------------------------------------------

    def tools(self) -> list[Tool]:
        return [
            *self._party_tools(),
            *self._opportunity_tools(),
            self._list_products(),
            *self._sale_tools(),
            *self._invoice_tools(),
        ]

    def _party_tools(self) -> list[Tool]:  # noqa: C901, PLR0915
        def find_parties(query: str = "", limit: Limit = 20) -> list[dict[str, Any]]:
            """Find customers (parties) whose name, code, email or phone contains ``query``."""
            domain: list[Any] = []
            if query:
                like = f"%{query}%"
                domain = [
                    "OR",
                    ("name", "ilike", like),
                    ("code", "ilike", like),
                    ("contact_mechanisms.value", "ilike", like),
                ]
            with _errors("crm.find_parties"):
                rows = self.client.search_read(
                    "party.party",
                    domain,
                    ["name", "code", "email", "phone"],
                    limit=limit,
                    order=[("name", "ASC")],
                )
            return [
                {
                    "id": r["id"],
                    "code": r["code"],
                    "name": r["name"],
                    "email": r.get("email") or None,
                    "phone": r.get("phone") or None,
                }
                for r in rows
            ]

        def read_party(party_id: int) -> dict[str, Any]:
            """A customer (party) with contact details and addresses."""
            with _errors("crm.read_party"):
                return self.party(party_id)

        def create_party_preview(
            name: str, email: str | None = None, phone: str | None = None, city: str | None = None
        ) -> dict[str, Any]:
            after = {"name": name, "email": email, "phone": phone, "city": city}
            return {
                "action": "create",
                "model": "party.party",
                "record_id": None,
                "changes": _diff({}, {k: v for k, v in after.items() if v is not None}),
            }

        def create_party(
            ctx: ToolContext,
            name: Annotated[str, Field(min_length=1, max_length=200)],
            email: str | None = None,
            phone: str | None = None,
            city: str | None = None,
        ) -> dict[str, Any]:
            """Create a customer (party). A repeated call with the same key returns the first."""
            key = marker("party.party", ctx.idempotency_key)
            with _errors("crm.create_party"), self._create_lock:
                existing = self._by_marker("party.party", [("identifiers.code", "=", key)])
                if existing is not None:
                    return {**self.party(existing), "created": False}
                mechanisms = [
                    {"type": kind, "value": value}
                    for kind, value in (("email", email), ("phone", phone))
                    if value
                ]
                party_id = self.client.create(
                    "party.party",
                    {
                        "name": name,
                        "contact_mechanisms": [["create", mechanisms]],
                        "addresses": [["create", [{"city": city or ""}]]],
                        "identifiers": [["create", [{"code": key}]]],
                    },
                )
                return {**self.party(party_id), "created": True}

        def update_party_preview(
            party_id: int,
            name: str | None = None,
            email: str | None = None,
            phone: str | None = None,
            city: str | None = None,
        ) -> dict[str, Any]:
            current = self.party(party_id)
            before = {k: current[k] for k in ("name", "email", "phone", "city")}
            after = {"name": name, "email": email, "phone": phone, "city": city}
            return {
                "action": "update",
                "model": "party.party",
                "record_id": party_id,
                "changes": _diff(before, {k: v for k, v in after.items() if v is not None}),
            }

        def update_party(
            party_id: int,
            name: Annotated[str, Field(min_length=1, max_length=200)] | None = None,
            email: str | None = None,
            phone: str | None = None,
            city: str | None = None,
        ) -> dict[str, Any]:
            """Change a customer's name, email, phone or city; omitted fields stay as they are.

            Returns the changes made (before/after); calling again changes nothing."""
            with _errors("crm.update_party"):
                diff = update_party_preview(party_id, name, email, phone, city)
                changes = diff["changes"]
                values: dict[str, Any] = {}
                if "name" in changes:
                    values["name"] = name
                actions: list[Any] = []
                for kind in ("email", "phone"):
                    if kind in changes:
                        value = changes[kind]["after"]
                        existing = self._mechanism(party_id, kind)
                        if existing is None:
                            actions.append(["create", [{"type": kind, "value": value}]])
                        else:
                            actions.append(["write", [existing], {"value": value}])
                if actions:
                    values["contact_mechanisms"] = actions
                if "city" in changes:
                    address = self.party(party_id)["addresses"]
                    if address:
                        values["addresses"] = [["write", [address[0]["id"]], {"city": city}]]
                    else:
                        values["addresses"] = [["create", [{"city": city}]]]
                if values:
                    self.client.write("party.party", [party_id], values)
                return diff

        return [
            tool(name="crm.find_parties", effect=Effect.READ, resource="party")(find_parties),
            tool(name="crm.read_party", effect=Effect.READ, resource="party")(read_party),
            tool(
                name="crm.create_party",
                effect=Effect.WRITE,
                resource="party",
                idempotent=True,
                preview=create_party_preview,
                read_back=_readback.create_party(self),
            )(create_party),
            tool(
                name="crm.update_party",
                effect=Effect.WRITE,
                resource="party",
                idempotent=True,
                preview=update_party_preview,
                read_back=_readback.update_party(self),
                reversed_by="crm.update_party",
                reverse_args=_restore_party,
            )(update_party),
        ]

    def _opportunity_tools(self) -> list[Tool]:  # noqa: C901
        def list_opportunities(
            state: OpportunityState | None = None, party_id: int | None = None, limit: Limit = 20
        ) -> list[dict[str, Any]]:
            """Opportunities (leads), newest first, optionally by state or customer."""
            domain: list[Any] = []
            if state is not None:
                domain.append(("state", "=", state))
            if party_id is not None:
                domain.append(("party", "=", party_id))
            with _errors("crm.list_opportunities"):
                rows = self.client.search_read(
                    "sale.opportunity",
                    domain,
                    ["id"],
                    limit=limit,
                    order=[("start_date", "DESC"), ("id", "DESC")],
                )
                return [self.opportunity(r["id"]) for r in rows]

        def create_opportunity_preview(
            party_id: int,
            description: str,
            amount: Amount | None = None,
            lines: list[SaleLine] | None = None,
        ) -> dict[str, Any]:
            party = self.party(party_id)
            after = {
                "party": party["name"],
                "description": description,
                "state": "lead",
                "amount": _money(amount),
                "lines": [line.model_dump(mode="json") for line in lines or []],
            }
            return {
                "action": "create",
                "model": "sale.opportunity",
                "record_id": None,
                "changes": _diff({}, after),
            }

        def create_opportunity(
            ctx: ToolContext,
            party_id: int,
            description: Annotated[str, Field(min_length=1, max_length=500)],
            amount: Amount | None = None,
            lines: list[SaleLine] | None = None,
        ) -> dict[str, Any]:
            """Open an opportunity (a lead) for a customer, with the products of interest.

            A repeated call with the same key returns the first opportunity."""
            key = marker("sale.opportunity", ctx.idempotency_key)
            with _errors("crm.create_opportunity"), self._create_lock:
                existing = self._by_marker("sale.opportunity", [("comment", "=", key)])
                if existing is not None:
                    return {**self.opportunity(existing), "created": False}
                defaults = self._party_defaults(party_id)
                line_values = [
                    {k: v for k, v in line.items() if k in ("product", "quantity", "unit")}
                    for line in self._product_lines(lines or [])
                ]
                values: dict[str, Any] = {
                    "party": party_id,
                    "description": description,
                    "comment": key,
                    "lines": [["create", line_values]],
                    **defaults,
                }
                if amount is not None:
                    values["amount"] = amount
                opportunity_id = self.client.create("sale.opportunity", values)
                return {**self.opportunity(opportunity_id), "created": True}

        def convert_preview(opportunity_id: int) -> dict[str, Any]:
            current = self.opportunity(opportunity_id)
            if current["state"] in ("converted", "won"):
                return {
                    "action": "none",
                    "model": "sale.opportunity",
                    "record_id": opportunity_id,
                    "changes": {},
                    "note": f"already {current['state']}: sales {current['sale_ids']}",
                }
            return {
                "action": "update",
                "model": "sale.opportunity",
                "record_id": opportunity_id,
                "changes": _diff(current, {"state": "converted"}),
                "creates": {"model": "sale.sale", "state": "draft", "party": current["party"]},
            }

        def convert_opportunity(opportunity_id: int) -> dict[str, Any]:
            """Convert an opportunity into a draft sale (quotation) with its lines.

            An opportunity already converted returns its sale: nothing is created twice."""
            with _errors("crm.convert_opportunity"):
                current = self.opportunity(opportunity_id)
                state = current["state"]
                if state not in ("lead", "opportunity", "converted", "won"):
                    raise TrytonError(f"opportunity {opportunity_id} is {state}: cannot convert")
                created = False
                if state == "lead":
                    self.client.button("sale.opportunity", "opportunity", [opportunity_id])
                    state = "opportunity"
                if state == "opportunity":
                    self.client.button("sale.opportunity", "convert", [opportunity_id])
                    created = True
                after = self.opportunity(opportunity_id)
                sales = after["sale_ids"]
                if not sales:
                    raise TrytonError(f"opportunity {opportunity_id} has no sale after converting")
                return {
                    "opportunity": after,
                    "sale": self.sale(sales[-1]),
                    "created": created,
                }

        return [
            tool(name="crm.list_opportunities", effect=Effect.READ, resource="opportunity")(
                list_opportunities
            ),
            tool(
                name="crm.create_opportunity",
                effect=Effect.WRITE,
                resource="opportunity",
                idempotent=True,
                preview=create_opportunity_preview,
                read_back=_readback.create_opportunity(self),
            )(create_opportunity),
            tool(
                name="crm.convert_opportunity",
                effect=Effect.WRITE,
                resource="opportunity",
                idempotent=True,
                preview=convert_preview,
                read_back=_readback.convert_opportunity(self),
            )(convert_opportunity),
        ]

    def _list_products(self) -> Tool:
        def list_products(query: str = "", limit: Limit = 50) -> list[dict[str, Any]]:
            """Salable products with their code and list price."""
            domain: list[Any] = [("salable", "=", True)]
            if query:
                domain.append(
                    ["OR", ("name", "ilike", f"%{query}%"), ("code", "ilike", f"%{query}%")]
                )
            with _errors("erp.list_products"):
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
                    "list_price": _money(_nested(r, "template", "list_price")),
                }
                for r in rows
            ]

        return tool(name="erp.list_products", effect=Effect.READ, resource="product")(list_products)

    def _sale_tools(self) -> list[Tool]:
        def create_sale_preview(
            party_id: int, lines: list[SaleLine], description: str | None = None
        ) -> dict[str, Any]:
            party = self.party(party_id)
            priced = self._product_lines(lines)
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
                "changes": _diff({}, {k: v for k, v in after.items() if v is not None}),
            }

        def create_sale(
            ctx: ToolContext,
            party_id: int,
            lines: Annotated[list[SaleLine], Field(min_length=1, max_length=100)],
            description: Annotated[str, Field(max_length=500)] | None = None,
        ) -> dict[str, Any]:
            """Create a draft sale order (quotation) for a customer.

            A repeated call with the same key returns the first sale."""
            key = marker("sale.sale", ctx.idempotency_key)
            with _errors("erp.create_sale"), self._create_lock:
                existing = self._by_marker("sale.sale", [("comment", "=", key)])
                if existing is not None:
                    return {**self.sale(existing), "created": False}
                defaults = self._party_defaults(party_id)
                values: dict[str, Any] = {
                    "party": party_id,
                    "invoice_address": defaults["address"],
                    "shipment_address": defaults["address"],
                    "payment_term": defaults["payment_term"],
                    "comment": key,
                    "lines": [["create", self._product_lines(lines)]],
                }
                if description:
                    values["description"] = description
                sale_id = self.client.create("sale.sale", values)
                return {**self.sale(sale_id), "created": True}

        def confirm_preview(sale_id: int) -> dict[str, Any]:
            current = self.sale(sale_id)
            target = current["state"] if current["state"] in _SALE_DONE else "confirmed"
            return {
                "action": "update" if target != current["state"] else "none",
                "model": "sale.sale",
                "record_id": sale_id,
                "changes": _diff(current, {"state": target}),
                "total_amount": current["total_amount"],
                "party": current["party"],
            }

        def confirm_sale(sale_id: int) -> dict[str, Any]:
            """Confirm a sale order: it becomes binding (shipments, invoices). Cannot be undone.

            A sale already confirmed is left as it is."""
            with _errors("erp.confirm_sale"):
                current = self.sale(sale_id)
                state = current["state"]
                if state in _SALE_DONE:
                    return {**current, "confirmed_now": False}
                if state == "cancelled":
                    raise TrytonError(f"sale {sale_id} is cancelled: cannot confirm")
                if state == "draft":
                    self.client.button("sale.sale", "quote", [sale_id])
                self.client.button("sale.sale", "confirm", [sale_id])
                return {**self.sale(sale_id), "confirmed_now": True}

        return [
            tool(
                name="erp.create_sale",
                effect=Effect.WRITE,
                resource="sale",
                idempotent=True,
                preview=create_sale_preview,
                read_back=_readback.create_sale(self),
            )(create_sale),
            tool(
                name="erp.confirm_sale",
                effect=Effect.IRREVERSIBLE,
                resource="sale",
                locate=self.locate_sale,
                idempotent=True,
                preview=confirm_preview,
                read_back=_readback.confirm_sale(self),
            )(confirm_sale),
        ]

    def _invoice_tools(self) -> list[Tool]:
        def list_invoices(
            party_id: int | None = None,
            state: InvoiceState | None = None,
            limit: Limit = 20,
        ) -> list[dict[str, Any]]:
            """Customer invoices and credit notes, newest first."""
            domain: list[Any] = [("type", "=", "out")]
            if party_id is not None:
                domain.append(("party", "=", party_id))
            if state is not None:
                domain.append(("state", "=", state))
            with _errors("erp.list_invoices"):
                rows = self.client.search_read(
                    "account.invoice",
                    domain,
                    [
                        "number",
                        "type",
                        "state",
                        "party",
                        "party.rec_name",
                        "invoice_date",
                        "total_amount",
                        "description",
                    ],
                    limit=limit,
                    order=[("invoice_date", "DESC"), ("id", "DESC")],
                )
            return [_invoice_row(r) for r in rows]

        def credits_of(invoice_id: int) -> list[int]:
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
            return [r["id"] for r in rows]

        def credit_preview(invoice_id: int) -> dict[str, Any]:
            current = self.invoice(invoice_id)
            existing = credits_of(invoice_id)
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
                "changes": _diff(
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
                    "changes": _diff(current, {"state": "cancelled"}),
                },
            }

        def issue_credit_note(invoice_id: int) -> dict[str, Any]:
            """Credit a posted customer invoice in full (a refund): the credit note is posted
            against it and the invoice is cancelled. Cannot be undone. An invoice is credited
            at most once: a repeated call returns the existing credit note."""
            with _errors("erp.issue_credit_note"):
                current = self.invoice(invoice_id)
                existing = credits_of(invoice_id)
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
                created = credits_of(invoice_id)
                if not created:
                    raise TrytonError(f"no credit note was created for invoice {invoice_id}")
                return {
                    "credit_note": self.invoice(created[0]),
                    "invoice": self.invoice(invoice_id),
                    "created": True,
                }

        return [
            tool(name="erp.list_invoices", effect=Effect.READ, resource="invoice")(list_invoices),
            tool(
                name="erp.issue_credit_note",
                effect=Effect.IRREVERSIBLE,
                resource="invoice",
                locate=self.locate_invoice,
                idempotent=True,
                preview=credit_preview,
                read_back=_readback.issue_credit_note(self),
            )(issue_credit_note),
        ]


def _restore_party(args: dict[str, Any], result: Any) -> dict[str, Any]:
    """The ``crm.update_party`` call that puts back what an update changed."""
    changes = result.get("changes", {}) if isinstance(result, dict) else {}
    restored = {k: v["before"] for k, v in changes.items() if v.get("before") is not None}
    return {"party_id": args["party_id"], **restored}


def _invoice_row(row: dict[str, Any]) -> dict[str, Any]:
    total = row.get("total_amount")
    return {
        "id": row["id"],
        "number": row.get("number") or None,
        "kind": "credit_note" if total is not None and total < 0 else "invoice",
        "state": row["state"],
        "party_id": row.get("party"),
        "party": _nested(row, "party"),
        "invoice_date": str(row["invoice_date"]) if row.get("invoice_date") else None,
        "total_amount": _money(total),
        "description": row.get("description") or None,
    }


__all__ = ["SaleLine", "TrytonTools", "marker"]
