"""The redactor finds credentials in free text by their shape (issue 15, item 10: tether's
own ``tt_`` tokens, ``password=…`` in a sentence and AWS secret keys went through)."""

from __future__ import annotations

import secrets

import pytest

from tether.redaction import SECRET, Redactor

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TETHER_TOKEN = "tt_" + secrets.token_urlsafe(32)  # as tether's console issues them


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"use {TETHER_TOKEN} for the API", TETHER_TOKEN),
        (f"Authorization header was {TETHER_TOKEN}.", TETHER_TOKEN),
        ("please log in with password=hunter2", "hunter2"),
        ("db settings: user=app passwd=Tr0ub4dor&3", "Tr0ub4dor&3"),
        ("her pwd: c0rrect-h0rse and that is all", "c0rrect-h0rse"),
        ('the config says api_key: "k-8f3a9c2e1d"', "k-8f3a9c2e1d"),
        (f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
        (f"AWS_SECRET_ACCESS_KEY = '{AWS_SECRET}'", AWS_SECRET),
        (f"my AWS secret key is {AWS_SECRET}, keep it safe", AWS_SECRET),
        (f"here: {AWS_SECRET}", AWS_SECRET),
        ("key id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_" + "a1B2" * 9 + " works", "ghp_" + "a1B2" * 9),
        ("stripe sk_live_" + "a1B2c3D4" * 3, "sk_live_" + "a1B2c3D4" * 3),
        ("https://deploy:s3cr3tpw@git.example/repo.git", "s3cr3tpw"),
        ("Bearer abcdefgh12345678 was sent", "abcdefgh12345678"),
    ],
)
def test_a_credential_in_free_text_is_redacted(text: str, secret: str) -> None:
    redacted = Redactor().redact_text(text)
    assert secret not in redacted
    assert SECRET in redacted


def test_the_words_around_a_secret_stay() -> None:
    redacted = Redactor().redact_text("please log in with password=hunter2")
    assert redacted == f"please log in with password={SECRET}"
    assert Redactor().redact_text(f"tok {TETHER_TOKEN} end") == f"tok {SECRET} end"


@pytest.mark.parametrize(
    "text",
    [
        "Hello Bob, your refund of 20.00 for invoice INV-2031 was sent to bob@example.com.",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b is the fix",  # a Git SHA-1
        "run 3f0c2a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70 finished",
        "the key to success is patience",
        "tether_test_0123456789ab",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().redact_text(text) == text


def test_nested_values_are_redacted_and_their_paths_reported() -> None:
    redacted = Redactor().redact(
        {"note": f"token {TETHER_TOKEN}", "lines": ["ok", f"aws secret {AWS_SECRET}"]}
    )
    assert redacted.value == {"note": f"token {SECRET}", "lines": ["ok", f"aws secret {SECRET}"]}
    assert redacted.paths == ("note", "lines[1]")


def test_a_text_seen_before_is_scrubbed_of_each_redactors_own_secrets() -> None:
    # Short texts' answers are kept; a value one redactor was told is secret must
    # still be hidden by it, and only by it, however often the text came before.
    text = "ship order 4471 to the warehouse"
    plain = Redactor()
    for _ in range(3):
        assert plain.redact_text(text) == text
    told = plain.with_secrets(values=["4471"])
    assert told.redact_text(text) == f"ship order {SECRET} to the warehouse"
    assert plain.redact_text(text) == text
    token = "tt_" + secrets.token_urlsafe(24)
    for _ in range(2):
        assert plain.redact_text(f"use {token}") == f"use {SECRET}"
    found = plain.redact({"note": f"use {token}", "again": f"use {token}"})
    assert found.value == {"note": f"use {SECRET}", "again": f"use {SECRET}"}
    assert found.paths == ("note", "again")
