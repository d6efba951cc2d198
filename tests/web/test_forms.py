"""The edit form generated from a tool's argument schema, and what it sends back."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from tether.service import readable_preview as readable
from tether.tools import tool
from tether.web._forms import FormError, edited_args, fields_for
from tether.web._present import time_left


class Address(BaseModel):
    city: str


@tool(name="crm.update", effect="write", secret_args=["api_key"])
def update(
    *,
    party_id: int,
    rate: Annotated[float, Field(ge=0, le=1)],
    note: Annotated[str, Field(max_length=2000)],
    tier: Literal["gold", "silver"],
    active: bool,
    tags: list[str],
    address: Address,
    api_key: str,
    nickname: str | None = None,
) -> None:
    """Update a party."""


ARGS: dict[str, Any] = {
    "party_id": 7,
    "rate": 0.5,
    "note": "long text",
    "tier": "gold",
    "active": True,
    "tags": ["a", "b"],
    "address": {"city": "Ghent"},
    "api_key": "k-123",
    "nickname": None,
}
SHOWN = {**ARGS, "api_key": "[REDACTED]"}


def form(**changes: str) -> dict[str, str]:
    base = {
        "arg.party_id": "7",
        "arg.rate": "0.5",
        "arg.note": "long text",
        "arg.tier": "gold",
        "arg.active": "on",
        "arg.tags": "a\r\nb",
        "arg.address": '{"city": "Ghent"}',
        "arg.nickname": "",
    }
    return {**base, **changes}


def test_each_argument_gets_the_field_its_schema_calls_for() -> None:
    fields = {item.name: item for item in fields_for(update, ARGS, SHOWN)}
    kinds = {name: item.kind for name, item in fields.items()}
    assert kinds == {
        "party_id": "integer",
        "rate": "number",
        "note": "textarea",
        "tier": "select",
        "active": "checkbox",
        "tags": "lines",
        "address": "json",
        "api_key": "text",
        "nickname": "text",
    }
    assert fields["rate"].attrs == {"min": "0", "max": "1"}
    assert fields["note"].attrs == {"maxlength": "2000"}
    assert fields["tier"].options == ("gold", "silver")
    assert fields["tags"].value == "a\nb"
    assert not fields["api_key"].editable and fields["api_key"].value == "[REDACTED]"
    assert fields["party_id"].required and not fields["nickname"].required


def test_an_unchanged_form_is_no_edit() -> None:
    assert edited_args(update, ARGS, SHOWN, form()) == {}


def test_changed_values_come_back_typed() -> None:
    changed = edited_args(
        update,
        ARGS,
        SHOWN,
        form(**{"arg.rate": "0.25", "arg.tags": "a\nc\n", "arg.address": '{"city": "Lyon"}'})
        | {"arg.active": "", "arg.api_key": "stolen"},
    )
    assert changed == {"rate": 0.25, "tags": ["a", "c"], "address": {"city": "Lyon"}}
    unticked = {key: value for key, value in form().items() if key != "arg.active"}
    assert edited_args(update, ARGS, SHOWN, unticked) == {"active": False}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("arg.party_id", "seven", "party_id: 'seven' is not a whole number"),
        ("arg.rate", "half", "rate: 'half' is not a number"),
        ("arg.address", "{city", "address: not valid JSON"),
    ],
)
def test_values_that_do_not_fit_are_refused(field: str, value: str, message: str) -> None:
    with pytest.raises(FormError, match=message):
        edited_args(update, ARGS, SHOWN, form(**{field: value}))


def test_previews_and_time_left_read_well() -> None:
    assert readable('{"before": {"a": 1}}') == '{\n  "before": {\n    "a": 1\n  }\n}'
    assert readable("To: x@y\n\nHello") == "To: x@y\n\nHello"
    assert readable("{not json") == "{not json"
    diff = json.dumps(
        {
            "action": "write",
            "model": "party.party",
            "record_id": 7,
            "changes": {"email": {"before": "a@x.example", "after": "b@x.example"}},
        }
    )
    # the console shows a record diff as the CLI does: field: before → after
    assert readable(diff) == "write party.party 7\n  email: a@x.example → b@x.example"
    assert [time_left(s) for s in (0, 59, 3599, 7260, 90000)] == [
        "expired",
        "0m 59s",
        "59m 59s",
        "2h 01m",
        "1d 1h",
    ]
