"""What Tryton shows after a write: each write tool's :class:`~tether.tools.ReadBack`
reads the record it changed from Tryton again (and, before the change, the record as
it was), so the executed event records Tryton's state beside the tool's answer."""

from __future__ import annotations

from typing import Any, Protocol

from tether.tools import ReadBack

SYSTEM = "tryton"
_PARTY_FIELDS = ("name", "email", "phone", "city")


class Records(Protocol):
    """Reads Tryton records as the tools return them (:class:`TrytonRecords`)."""

    def party(self, party_id: int) -> Any: ...
    def opportunity(self, opportunity_id: int) -> Any: ...
    def sale(self, sale_id: int) -> Any: ...
    def invoice(self, invoice_id: int) -> Any: ...


def _without(answer: Any, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in dict(answer).items() if k not in keys}


def _asked(args: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: args[name] for name in fields if args.get(name) is not None}


def create_party(records: Records) -> ReadBack:
    return ReadBack(
        after=lambda _args, answer: records.party(answer["id"]),
        expect=lambda args, answer: {
            **_without(answer, "created"),
            **_asked(args, _PARTY_FIELDS),
        },
        system=SYSTEM,
    )


def update_party(records: Records) -> ReadBack:
    def asked(args: dict[str, Any], _answer: Any) -> dict[str, Any]:
        return {"id": args["party_id"], **_asked(args, _PARTY_FIELDS)}

    return ReadBack(
        before=lambda args: records.party(args["party_id"]),
        after=lambda args, _answer: records.party(args["party_id"]),
        expect=asked,
        system=SYSTEM,
    )


def create_opportunity(records: Records) -> ReadBack:
    return ReadBack(
        after=lambda _args, answer: records.opportunity(answer["id"]),
        expect=lambda args, answer: {
            **_without(answer, "created"),
            "party_id": args["party_id"],
            "description": args["description"],
        },
        system=SYSTEM,
    )


def convert_opportunity(records: Records) -> ReadBack:
    def after(args: dict[str, Any], answer: Any) -> dict[str, Any]:
        return {
            "opportunity": records.opportunity(args["opportunity_id"]),
            "sale": records.sale(answer["sale"]["id"]),
        }

    return ReadBack(
        before=lambda args: records.opportunity(args["opportunity_id"]),
        after=after,
        expect=lambda _args, answer: _without(answer, "created"),
        system=SYSTEM,
    )


def create_sale(records: Records) -> ReadBack:
    return ReadBack(
        after=lambda _args, answer: records.sale(answer["id"]),
        expect=lambda args, answer: {**_without(answer, "created"), "party_id": args["party_id"]},
        system=SYSTEM,
    )


def confirm_sale(records: Records) -> ReadBack:
    return ReadBack(
        before=lambda args: records.sale(args["sale_id"]),
        after=lambda args, _answer: records.sale(args["sale_id"]),
        expect=lambda args, answer: {**_without(answer, "confirmed_now"), "id": args["sale_id"]},
        system=SYSTEM,
    )


def issue_credit_note(records: Records) -> ReadBack:
    def after(args: dict[str, Any], answer: Any) -> dict[str, Any]:
        return {
            "credit_note": records.invoice(answer["credit_note"]["id"]),
            "invoice": records.invoice(args["invoice_id"]),
        }

    def expect(args: dict[str, Any], answer: Any) -> dict[str, Any]:
        # Whatever the answer says, a credit note is a credit note and the invoice it
        # credits is cancelled.
        return {
            "credit_note": {**answer["credit_note"], "kind": "credit_note"},
            "invoice": {
                **(answer.get("invoice") or {}),
                "id": args["invoice_id"],
                "state": "cancelled",
            },
        }

    return ReadBack(
        before=lambda args: records.invoice(args["invoice_id"]),
        after=after,
        expect=expect,
        system=SYSTEM,
    )
