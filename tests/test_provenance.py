"""Identifiers normalised by their parsers, and the questions asked of a run's provenance."""

from __future__ import annotations

from typing import Any

import pytest

from tether.provenance import (
    Identifier,
    ProvenanceView,
    Undetermined,
    Vouching,
    addresses_in,
    identifiers_in_text,
    identifiers_of,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bob@Example.COM", [("email", "bob@example.com")]),
        ("a@x.example, Bob <b@y.example>", [("email", "a@x.example"), ("email", "b@y.example")]),
        ("https://Docs.Acme.example/p?q=1#top", [("url", "https://docs.acme.example/p?q=1")]),
        ("DE89 3704 0044 0532 0130 00", [("iban", "DE89370400440532013000")]),
        ("+44 20 7946 0958", [("phone", "+442079460958")]),
        ("Acme.Example", [("domain", "acme.example")]),
        ("INV-0042", [("name", "inv-0042")]),
        (42, [("name", "42")]),
        (["a@x.example", "A@X.example"], [("email", "a@x.example")]),
    ],
)
def test_values_are_normalised_by_kind(value: Any, expected: list[tuple[str, str]]) -> None:
    assert [(i.kind, i.value) for i in identifiers_of(value)] == expected


@pytest.mark.parametrize("value", [1.5, True, None, {}, "", " ", [], "not an address@"])
def test_values_without_provenance_are_undetermined(value: Any) -> None:
    with pytest.raises(Undetermined):
        identifiers_of(value)


def test_a_url_keeps_its_query_string_because_it_carries_data_out() -> None:
    (plain,) = identifiers_of("https://docs.acme.example/page")
    (leaky,) = identifiers_of("https://docs.acme.example/page?secret=hunter2")
    assert plain != leaky


def test_free_text_names_its_identifiers() -> None:
    text = (
        'Send "Q3 plan.pdf" to bob@partner.example, cc Alice <alice@acme.example>; see '
        "https://wiki.acme.example/x?y=1. Invoice INV-0042, IBAN DE89 3704 0044 0532 0130 00, "
        "call +44 20 7946 0958, post in #finance."
    )
    found = {(i.kind, i.value) for i in identifiers_in_text(text)}
    assert {
        ("email", "bob@partner.example"),
        ("email", "alice@acme.example"),
        ("url", "https://wiki.acme.example/x?y=1"),
        ("domain", "wiki.acme.example"),
        ("iban", "DE89370400440532013000"),
        ("phone", "+442079460958"),
        ("name", "inv-0042"),
        ("name", "#finance"),
        ("name", "q3 plan.pdf"),
    } <= found
    # An IBAN's and a phone number's digit groups are not ids of their own.
    assert ("name", "3704") not in found
    assert ("name", "7946") not in found


def test_recipient_strings_are_split_as_mail_is() -> None:
    smuggled = "audit@evil.example, x@acme.example"
    assert addresses_in([smuggled, "Bob <B@Y.example>"]) == [
        "audit@evil.example",
        "x@acme.example",
        "b@y.example",
    ]


def view(table: dict[str, tuple[str, ...]], **policy: Any) -> ProvenanceView:
    return ProvenanceView(table=table, policy=Vouching.of(**{"values": [], "domains": []} | policy))


def test_vouched_needs_every_identifier_vouched_and_not_only_seen() -> None:
    v = view(
        {
            "email:bob@partner.example": ("task",),
            "email:eve@evil.example": ("untrusted:email.read_inbox",),
        }
    )
    assert v.vouched("Bob@Partner.example")
    assert not v.vouched("eve@evil.example")
    assert not v.vouched(["bob@partner.example", "eve@evil.example"])
    assert v.from_untrusted("eve@evil.example")
    assert not v.from_untrusted("bob@partner.example")
    assert "seen in untrusted output of email.read_inbox" in v.notes[0]


def test_vouched_by_names_the_source() -> None:
    v = view({"iban:DE89370400440532013000": ("tool:erp.read_party",)})
    assert v.vouched_by("DE89 3704 0044 0532 0130 00", "tool")
    assert v.vouched_by("DE89370400440532013000", "tool:erp.read_party")
    assert not v.vouched_by("DE89370400440532013000", "task")


def test_the_policy_allow_list_vouches_for_values_and_domains() -> None:
    v = view({}, values=["ap@bank.example"], domains=["acme.example"])
    assert v.vouched_by("ap@bank.example", "policy")
    assert v.vouched("x@sub.acme.example")
    assert v.vouched("https://wiki.acme.example/a")
    assert not v.vouched("x@acme.example.evil.example")


def test_a_value_of_unknown_provenance_is_not_vouched_and_the_note_says_so() -> None:
    v = view({"name:1.5": ("task",)})
    assert not v.vouched(1.5)
    assert "cannot be determined" in v.notes[0]
    assert v.from_untrusted({"a": 1})  # unknown: it may have come from anywhere


def test_identifier_key() -> None:
    assert Identifier("email", "a@x.example").key == "email:a@x.example"
