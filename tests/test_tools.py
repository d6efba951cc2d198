"""Tools: arguments validated exactly as declared, metadata kept."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from tether.errors import ToolArgumentsError
from tether.tools import Effect, ToolContext, tool


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
