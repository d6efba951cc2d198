"""Secrets never reach the store in clear: not in arguments, results, errors or anywhere else."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from tests.audit.conftest import T0
from tests.audit.gate_setup import API_KEY, BEARER, PASSPHRASE, PHONE, policy, proposed, run_calls
from tether.audit import AuditEvent, AuditLog
from tether.gate import Gate, GateEvent
from tether.redaction import SECRET as SECRET_MARK
from tether.redaction import Redactor

SECRETS = (PASSPHRASE, BEARER.split()[1], API_KEY, PHONE, "hunter2", "s3cr3t-cookie-value")


def stored_text(url: str) -> str:
    """Everything in the audit tables, as text."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            parts = []
            for table in ("tether_audit_event", "tether_audit_checkpoint", "tether_audit_meta"):
                for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                    parts.extend(str(value) for value in row)
            return "\n".join(parts)
    finally:
        engine.dispose()


def assert_no_secrets(url: str) -> None:
    text = stored_text(url)
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"in the audit store in clear: {leaked}"
    if url.startswith("sqlite:///"):  # and not in the file's bytes either (WAL included)
        path = Path(url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert not [s for s in SECRETS if s.encode() in raw]


def test_secrets_in_args_results_and_errors(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    run_calls(Gate(policy(), database=db, recorder=log))
    assert_no_secrets(db)
    events = list(log.events())
    connect = [s.event for s in events if s.event.tool == "crm.connect"]
    assert connect[0].args == {"account": "acme", "passphrase": SECRET_MARK}
    assert connect[-1].result == {"account": "acme", "session": SECRET_MARK, "echo": SECRET_MARK}
    failed = next(s.event for s in events if s.event.type == "call.failed")
    assert failed.error == f"ValueError: login failed for {SECRET_MARK} with key {SECRET_MARK}"


def test_the_log_redacts_what_the_gate_missed(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    """Defence in depth: an event that arrives unredacted is still redacted before storing."""
    log = open_log(sqlite_db)
    call = proposed("crm.read", {"party_id": 1}, call_id="c1")
    log.record(
        GateEvent(
            type="call.proposed",
            call=call,
            at=T0,
            args={"password": "hunter2", "header": BEARER, "nested": [{"api_key": API_KEY}]},
        )
    )
    log.append(
        AuditEvent(
            type="call.failed",
            run_id="run-1",
            at=T0 + _dt.timedelta(seconds=1),
            call_id="c1",
            why=f"use {BEARER}",
            result={"cookie": "s3cr3t-cookie-value"},
            error=f"auth failed with {API_KEY}",
            details={"session": {"token": "hunter2"}},
            approval={"comment": f"send it with {BEARER}"},
        )
    )
    assert_no_secrets(sqlite_db)
    first, second = log.events()
    assert first.event.args == {
        "password": SECRET_MARK,
        "header": SECRET_MARK,
        "nested": [{"api_key": SECRET_MARK}],
    }
    assert second.event.error == f"auth failed with {SECRET_MARK}"
    assert log.verify().intact  # the hash covers the redacted form


def test_personal_data_fields_are_masked(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db, redactor=Redactor(pii_fields=["phone"], secret_fields=["pin"]))
    log.append(
        AuditEvent(type="call.proposed", run_id="r", args={"phone": PHONE, "pin": "1234", "x": 1})
    )
    (stored,) = log.events()
    assert stored.event.args == {"phone": "[MASKED]", "pin": SECRET_MARK, "x": 1}
    assert_no_secrets(sqlite_db)
