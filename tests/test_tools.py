"""Tools: arguments validated exactly as declared, metadata kept."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field

from tether.calls import first_attempt
from tether.errors import ToolArgumentsError
from tether.tools import Effect, ReadBack, ToolContext, declare, declared_tools, tool


@tool(name="erp.refund", effect="irreversible", resource="invoice", idempotent=True)
def refund(
    ctx: ToolContext,
    invoice: int,
    amount: Annotated[float, Field(gt=0, le=10_000)],
    note: Annotated[str, Field(max_length=10)] = "",
) -> str:
    """Refund an invoice."""
    return ctx.idempotency_key


def test_annotated_constraints_hold() -> None:
    assert refund.validate_args({"invoice": 1, "amount": 5.0}) == {
        "invoice": 1,
        "amount": 5.0,
        "note": "",
    }
    with pytest.raises(ToolArgumentsError, match="amount: Input should be greater than 0"):
        refund.validate_args({"invoice": 1, "amount": 0})
    with pytest.raises(ToolArgumentsError, match="note: String should have at most 10"):
        refund.validate_args({"invoice": 1, "amount": 1.0, "note": "x" * 11})


def test_unknown_arguments_are_refused_and_the_context_is_not_an_argument() -> None:
    with pytest.raises(ToolArgumentsError, match="iban: Extra inputs are not permitted"):
        refund.validate_args({"invoice": 1, "amount": 1.0, "iban": "XX"})
    schema = refund.json_schema()
    assert set(schema["properties"]) == {"invoice", "amount", "note"}
    assert schema["properties"]["amount"]["exclusiveMinimum"] == 0
    assert schema["required"] == ["invoice", "amount"]


def test_metadata() -> None:
    assert refund.effect is Effect.IRREVERSIBLE
    assert refund.resource == "invoice"
    assert refund.idempotent
    assert refund.description == "Refund an invoice."
    assert refund.context_param == "ctx"


class _Records:
    def __init__(self) -> None:
        self.rows = {1: {"id": 1, "name": "Acme"}}

    def locate(self, row_id: int) -> dict[str, Any]:
        return {"id": row_id, "team": "emea"}


class _Crm(_Records):
    @declare(name="crm.read", effect=Effect.READ)
    def read(self, row_id: int) -> dict[str, Any]:
        """Read a row."""
        return self.rows[row_id]

    def rename_preview(self, row_id: int, name: str) -> dict[str, Any]:
        return {"before": self.rows[row_id]["name"], "after": name}

    @declare(
        name="crm.rename",
        effect=Effect.WRITE,
        preview="rename_preview",
        locate="locate",
        read_back=lambda crm: ReadBack(after=lambda args, _answer: crm.rows[args["row_id"]]),
        targets=("row_id",),
    )
    def rename(self, row_id: int, name: str) -> dict[str, Any]:
        """Rename a row."""
        self.rows[row_id]["name"] = name
        return self.rows[row_id]


def test_declared_tools_are_bound_to_their_object_with_their_metadata() -> None:
    crm = _Crm()
    read, rename = declared_tools(crm)
    assert (read.name, rename.name) == ("crm.read", "crm.rename")
    assert rename.arg_names() == ["row_id", "name"]  # not self
    assert read.description == "Read a row."
    assert rename.preview is not None and rename.preview(row_id=1, name="B") == {
        "before": "Acme",
        "after": "B",
    }
    assert rename.locate is not None and rename.locate(row_id=1) == {"id": 1, "team": "emea"}
    assert rename.read_back is not None
    rename.function(row_id=1, name="Acme Corp")
    assert rename.read_back.after({"row_id": 1}, None) == {"id": 1, "name": "Acme Corp"}
    assert declared_tools(_Crm())[1].function(row_id=1, name="x") == {"id": 1, "name": "x"}
    assert crm.rows[1]["name"] == "Acme Corp"  # each object's tools act on it alone


def test_a_declaration_naming_unknown_arguments_is_refused() -> None:
    class Bad:
        @declare(name="x.send", effect=Effect.COMMUNICATE, recipients=("to",))
        def send(self, address: str) -> None: ...

    with pytest.raises(TypeError, match="recipients names to"):
        declared_tools(Bad())


def test_a_call_made_again_takes_the_first_attempt_not_ruled_out() -> None:
    taken = {"undo-c1", "undo-c1.2"}
    assert first_attempt("undo-c1", taken.__contains__) == "undo-c1.3"
    assert first_attempt("gw-x", taken.__contains__) == "gw-x"
