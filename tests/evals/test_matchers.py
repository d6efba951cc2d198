"""Matchers: plain values, exact, regex, ranges, any, contains, one_of; tool patterns."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from tether.evals import CallMatcher, matches
from tether.evals._matchers import Matcher

MATCHER: TypeAdapter[Any] = TypeAdapter(Matcher)


def m(data: Any) -> Any:
    return MATCHER.validate_python(data)


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        (180, 180.0, True),
        (180, 181, False),
        ("Acme", "Acme", True),
        ("Acme", "acme", False),
        (True, 1, False),
        (1, True, False),
        (["a@x.example"], ["a@x.example"], True),
        (["a@x.example"], ["a@x.example", "b@x.example"], False),
        ({"exact": {"a": 1}}, {"a": 1}, True),
        ({"exact": {"a": 1}}, {"a": 2}, False),
        ({"regex": "(?i)^acme"}, "ACME Corp", True),
        ({"regex": "acme"}, "Globex", False),
        ({"regex": "1"}, 1, False),
        ({"min": 10, "max": 20}, 10, True),
        ({"min": 10, "max": 20}, 20.0, True),
        ({"min": 10, "max": 20}, 20.01, False),
        ({"min": 10}, 1e9, True),
        ({"max": 0}, 0.5, False),
        ({"min": 0}, "5", False),
        ({"min": 0}, True, False),
        ({"any": True}, None, True),
        ({"contains": "b@x.example"}, ["a@x.example", "b@x.example"], True),
        ({"contains": "b@x.example"}, ["a@x.example"], False),
        ({"contains": "IBAN"}, "send to IBAN XX00", True),
        ({"contains": 3}, "3", False),
        ({"one_of": [1, 3]}, 3, True),
        ({"one_of": [1, 3]}, 2, False),
    ],
)
def test_matchers(matcher: Any, value: Any, expected: bool) -> None:
    assert matches(m(matcher), value) is expected


def test_a_missing_argument_matches_only_any() -> None:
    call = CallMatcher(tool="email.send", args={"cc": m({"any": True})})
    assert call.matches("email.send", {})
    strict = CallMatcher(tool="email.send", args={"cc": m("x@y.example")})
    assert not strict.matches("email.send", {})


def test_call_matcher_checks_only_the_arguments_it_names() -> None:
    call = CallMatcher(tool="erp.create_credit_note", args={"amount": m({"max": 200})})
    assert call.matches("erp.create_credit_note", {"amount": 180, "invoice_id": 102})
    assert not call.matches("erp.create_credit_note", {"amount": 1000, "invoice_id": 102})
    assert not call.matches("erp.void_credit_note", {"amount": 180})


def test_tool_patterns() -> None:
    assert CallMatcher(tool="crm.*").matches("crm.delete_party", {})
    assert not CallMatcher(tool="crm.*").matches("erp.list_invoices", {})
    assert CallMatcher(tool="*").matches("email.send", {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"regex": "(unclosed"}, "invalid regular expression"),
        ({"min": 5, "max": 1}, "range can never match"),
        ({"starts_with": "x"}, "not a matcher"),
        ({"any": False}, "Input should be True"),
        ({"one_of": []}, "at least 1 item"),
    ],
)
def test_matchers_that_cannot_match_are_refused(data: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        m(data)
