"""The systems a scenario acts on, fresh for every trial, and the checks of their end state.

The demo company's desk (``tether.demo``, a SQLite file) stands for the CRM, the ERP,
the support inbox and the outbox: each trial gets a new file, with the scenario's
inbox and extra rows, and the desk tools are pointed at it.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.demo import create_desk
from tether.evals._matchers import describe, matches
from tether.evals._rest import describe_rest
from tether.evals._scenario import DeskState, EndStateCheck, OutboxCheck, RestQuery, TrytonQuery


class DeskFactory:
    """Makes fresh desks by copying one built from the demo's data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "desk-template.db"
        create_desk(self.template)

    def fresh(self, name: str, state: DeskState) -> Path:
        path = self.folder / f"desk-{name}.db"
        path.unlink(missing_ok=True)
        shutil.copyfile(self.template, path)
        with closing(sqlite3.connect(path)) as db, db:
            if state.inbox is not None:
                db.execute("DELETE FROM inbox")
                db.executemany(
                    "INSERT INTO inbox (sender, subject, body) VALUES (?, ?, ?)",
                    [(mail.sender, mail.subject, mail.body) for mail in state.inbox],
                )
            for statement in state.sql:
                db.execute(statement)
        return path


TrytonCount = Callable[[TrytonQuery], int]
RestCount = Callable[[RestQuery], int]
SentMail = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True, kw_only=True)
class _Systems:
    tryton: TrytonCount | None
    rest: RestCount | None
    mail: SentMail | None


def check_end_state(
    desk: Path,
    checks: list[EndStateCheck],
    tryton: TrytonCount | None = None,
    *,
    rest: RestCount | None = None,
    mail: SentMail | None = None,
) -> list[tuple[bool, str]]:
    """Each check's outcome and, when it failed, why. ``mail``: what went out through
    email connectors (to the trial's outbox), counted with the desk's outbox."""
    systems = _Systems(tryton=tryton, rest=rest, mail=mail)
    results = []
    with closing(sqlite3.connect(desk)) as db:
        for check in checks:
            results.append(_check(db, check, systems))
    return results


def _label(check: EndStateCheck) -> str:
    if check.label or check.query:
        return check.label or check.query or ""
    if check.rest is not None:
        return f"rest {check.rest.service} {describe_rest(check.rest)}"
    return "tryton" if check.tryton else "outbox"


def _check(db: sqlite3.Connection, check: EndStateCheck, systems: _Systems) -> tuple[bool, str]:
    label = _label(check)
    tryton = systems.tryton
    if check.rest is not None:
        if systems.rest is None:
            raise RuntimeError("a rest end-state check needs an openapi connector")
        count = systems.rest(check.rest)
        if matches(check.expect, count):
            return True, ""
        return False, (
            f"end state {label!r}: {check.rest.service} received {count} matching "
            f"request(s), expected {describe(check.expect)}"
        )
    if check.tryton is not None:
        if tryton is None:
            raise RuntimeError("a tryton end-state check needs a tryton connector")
        count = tryton(check.tryton)
        if matches(check.expect, count):
            return True, ""
        return False, (
            f"end state {label!r}: {count} {check.tryton.model} record(s) match "
            f"{check.tryton.domain!r}, expected {describe(check.expect)}"
        )
    if check.query is not None:
        row = db.execute(check.query).fetchone()
        value = row[0] if row else None
        if matches(check.expect, value):
            return True, ""
        return False, f"end state {label!r}: got {value!r}, expected {describe(check.expect)}"
    outbox = check.outbox or OutboxCheck()
    sent = sent_mail(db) + (systems.mail() if systems.mail is not None else [])
    count = sum(1 for mail in sent if _mail_matches(outbox, mail))
    if matches(check.expect, count):
        return True, ""
    wanted = describe_outbox(outbox)
    return False, (
        f"end state {label!r}: {count} sent message(s) match {wanted}, "
        f"expected {describe(check.expect)}"
    )


def sent_mail(db: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = db.execute("SELECT recipients, subject, body FROM sent_mail ORDER BY id").fetchall()
    return [
        {"to": [r.strip() for r in recipients.split(",") if r.strip()], "subject": s, "body": b}
        for recipients, s, b in rows
    ]


def _mail_matches(check: OutboxCheck, mail: dict[str, Any]) -> bool:
    return all(
        matcher is None or matches(matcher, mail[key])
        for key, matcher in (("to", check.to), ("subject", check.subject), ("body", check.body))
    )


def describe_outbox(check: OutboxCheck) -> str:
    parts = [
        f"{key}={describe(value)}"
        for key, value in (("to", check.to), ("subject", check.subject), ("body", check.body))
        if value is not None
    ]
    return "{" + ", ".join(parts) + "}" if parts else "(any message)"
