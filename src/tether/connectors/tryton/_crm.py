"""The CRM tools: customers (parties) and opportunities (``crm.*``), each declared with
its metadata beside it.

Write tools have a ``preview`` that reads the current record and returns the diff
without changing anything, and a ``read_back`` (``_readback.py``) that reads the record
from Tryton again after the call, for the outcome record. Creating tools store
``tether:<model>:<idempotency key>`` on the record they create (a party identifier, an
opportunity's ``comment``) and look for it first: a repeated call returns the record
of the first one.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tether.connectors.tryton import _readback
from tether.connectors.tryton._client import TrytonError
from tether.connectors.tryton._records import (
    Amount,
    Conversion,
    CreatedOpportunity,
    CreatedParty,
    Limit,
    Opportunity,
    OpportunityState,
    Party,
    PartySummary,
    RecordChange,
    SaleLine,
    TrytonRecords,
    diff,
    marker,
    money,
    tool_errors,
)
from tether.tools import Effect, ToolContext, declare

Name = Annotated[str, Field(min_length=1, max_length=200)]


def customer_emails(result: Any) -> list[str]:
    """The addresses a party read vouches for: the run may write to them."""
    rows = result if isinstance(result, list) else [result]
    return [row["email"] for row in rows if isinstance(row, dict) and row.get("email")]


def restore_party(args: dict[str, Any], result: Any) -> dict[str, Any]:
    """The ``crm.update_party`` call that puts back what an update changed."""
    changes = result.get("changes", {}) if isinstance(result, dict) else {}
    restored = {k: v["before"] for k, v in changes.items() if v.get("before") is not None}
    return {"party_id": args["party_id"], **restored}


class CrmTools(TrytonRecords):
    """``crm.*``: find, read, create and update customers; opportunities and their sales."""

    # --- customers ----------------------------------------------------------------------

    @declare(
        name="crm.find_parties",
        effect=Effect.READ,
        resource="party",
        contacts=customer_emails,
        vouches=("id", "email", "phone"),  # the ERP's own records of its customers
    )
    def find_parties(self, query: str = "", limit: Limit = 20) -> list[PartySummary]:
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
        with tool_errors("crm.find_parties"):
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

    @declare(
        name="crm.read_party",
        effect=Effect.READ,
        resource="party",
        contacts=customer_emails,
        vouches=("id", "email", "phone"),
    )
    def read_party(self, party_id: int) -> Party:
        """A customer (party) with contact details and addresses."""
        with tool_errors("crm.read_party"):
            return self.party(party_id)

    def create_party_preview(
        self,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        city: str | None = None,
    ) -> RecordChange:
        after = {"name": name, "email": email, "phone": phone, "city": city}
        return {
            "action": "create",
            "model": "party.party",
            "record_id": None,
            "changes": diff({}, {k: v for k, v in after.items() if v is not None}),
        }

    @declare(
        name="crm.create_party",
        effect=Effect.WRITE,
        resource="party",
        idempotent=True,
        preview="create_party_preview",
        read_back=_readback.create_party,
        vouches_args=("email", "phone"),  # creating a party makes its address known
        targets=("email", "phone"),
    )
    def create_party(
        self,
        ctx: ToolContext,
        name: Name,
        email: str | None = None,
        phone: str | None = None,
        city: str | None = None,
    ) -> CreatedParty:
        """Create a customer (party). A repeated call with the same key returns the first."""
        key = marker("party.party", ctx.idempotency_key)
        with tool_errors("crm.create_party"), self.create_lock:
            existing = self.by_marker("party.party", [("identifiers.code", "=", key)])
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
        self,
        party_id: int,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        city: str | None = None,
    ) -> RecordChange:
        current = self.party(party_id)
        before = {
            "name": current["name"],
            "email": current["email"],
            "phone": current["phone"],
            "city": current["city"],
        }
        after = {"name": name, "email": email, "phone": phone, "city": city}
        return {
            "action": "update",
            "model": "party.party",
            "record_id": party_id,
            "changes": diff(before, {k: v for k, v in after.items() if v is not None}),
        }

    @declare(
        name="crm.update_party",
        effect=Effect.WRITE,
        resource="party",
        idempotent=True,
        preview="update_party_preview",
        read_back=_readback.update_party,
        reversed_by="crm.update_party",
        reverse_args=restore_party,
        targets=("party_id", "email", "phone"),
    )
    def update_party(
        self,
        party_id: int,
        name: Name | None = None,
        email: str | None = None,
        phone: str | None = None,
        city: str | None = None,
    ) -> RecordChange:
        """Change a customer's name, email, phone or city; omitted fields stay as they are.

        Returns the changes made (before/after); calling again changes nothing."""
        with tool_errors("crm.update_party"):
            change = self.update_party_preview(party_id, name, email, phone, city)
            changes = change["changes"]
            values: dict[str, Any] = {}
            if "name" in changes:
                values["name"] = name
            actions: list[Any] = []
            for kind in ("email", "phone"):
                if kind in changes:
                    value = changes[kind]["after"]
                    existing = self.mechanism(party_id, kind)
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
            return change

    # --- opportunities ------------------------------------------------------------------

    @declare(name="crm.list_opportunities", effect=Effect.READ, resource="opportunity")
    def list_opportunities(
        self, state: OpportunityState | None = None, party_id: int | None = None, limit: Limit = 20
    ) -> list[Opportunity]:
        """Opportunities (leads), newest first, optionally by state or customer."""
        domain: list[Any] = []
        if state is not None:
            domain.append(("state", "=", state))
        if party_id is not None:
            domain.append(("party", "=", party_id))
        with tool_errors("crm.list_opportunities"):
            rows = self.client.search_read(
                "sale.opportunity",
                domain,
                ["id"],
                limit=limit,
                order=[("start_date", "DESC"), ("id", "DESC")],
            )
            return [self.opportunity(r["id"]) for r in rows]

    def create_opportunity_preview(
        self,
        party_id: int,
        description: str,
        amount: Amount | None = None,
        lines: list[SaleLine] | None = None,
    ) -> RecordChange:
        party = self.party(party_id)
        after = {
            "party": party["name"],
            "description": description,
            "state": "lead",
            "amount": money(amount),
            "lines": [line.model_dump(mode="json") for line in lines or []],
        }
        return {
            "action": "create",
            "model": "sale.opportunity",
            "record_id": None,
            "changes": diff({}, after),
        }

    @declare(
        name="crm.create_opportunity",
        effect=Effect.WRITE,
        resource="opportunity",
        idempotent=True,
        preview="create_opportunity_preview",
        read_back=_readback.create_opportunity,
        targets=("party_id",),
    )
    def create_opportunity(
        self,
        ctx: ToolContext,
        party_id: int,
        description: Annotated[str, Field(min_length=1, max_length=500)],
        amount: Amount | None = None,
        lines: list[SaleLine] | None = None,
    ) -> CreatedOpportunity:
        """Open an opportunity (a lead) for a customer, with the products of interest.

        A repeated call with the same key returns the first opportunity."""
        key = marker("sale.opportunity", ctx.idempotency_key)
        with tool_errors("crm.create_opportunity"), self.create_lock:
            existing = self.by_marker("sale.opportunity", [("comment", "=", key)])
            if existing is not None:
                return {**self.opportunity(existing), "created": False}
            line_values = [
                {k: v for k, v in line.items() if k in ("product", "quantity", "unit")}
                for line in self.product_lines(lines or [])
            ]
            values: dict[str, Any] = {
                "party": party_id,
                "description": description,
                "comment": key,
                "lines": [["create", line_values]],
                **self.party_defaults(party_id),
            }
            if amount is not None:
                values["amount"] = amount
            opportunity_id = self.client.create("sale.opportunity", values)
            return {**self.opportunity(opportunity_id), "created": True}

    def convert_preview(self, opportunity_id: int) -> RecordChange:
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
            "changes": diff(dict(current), {"state": "converted"}),
            "creates": {"model": "sale.sale", "state": "draft", "party": current["party"]},
        }

    @declare(
        name="crm.convert_opportunity",
        effect=Effect.WRITE,
        resource="opportunity",
        idempotent=True,
        preview="convert_preview",
        read_back=_readback.convert_opportunity,
        targets=("opportunity_id",),
    )
    def convert_opportunity(self, opportunity_id: int) -> Conversion:
        """Convert an opportunity into a draft sale (quotation) with its lines.

        An opportunity already converted returns its sale: nothing is created twice."""
        with tool_errors("crm.convert_opportunity"):
            state = self.opportunity(opportunity_id)["state"]
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
            return {"opportunity": after, "sale": self.sale(sales[-1]), "created": created}
