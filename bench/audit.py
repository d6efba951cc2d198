"""Audit trail throughput: appends (one at a time and batched) and verification.

    python bench/audit.py [--events N] [--single N] [--batch N]

Runs on SQLite in a temporary directory and, when TETHER_TEST_DATABASE_URL is set, on
PostgreSQL in a schema of its own (dropped afterwards). Targets: appends >= 10,000
events/s sustained on SQLite (batched), verification >= 200,000 events/s on one core.
The events are realistic: arguments, a decision with rules and reasons, a result.
Nothing here is asserted; the numbers are printed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tether.audit import AuditEvent, AuditLog, KeyStore, verify

T0 = _dt.datetime(2026, 11, 1, tzinfo=_dt.UTC)


def events(count: int, start: int = 0) -> list[AuditEvent]:
    out = []
    for n in range(start, start + count):
        kind = ("call.proposed", "call.decided", "call.executed")[n % 3]
        out.append(
            AuditEvent(
                type=kind,
                run_id=f"run-{n // 30}",
                at=T0 + _dt.timedelta(milliseconds=n),
                call_id=f"call-{n // 3}",
                agent="support-desk",
                agent_version="1.2.0",
                principal="alice",
                tool="erp.create_credit_note",
                args={"invoice_id": 100 + n % 7, "amount": 120.5, "reason": "duplicate charge"},
                why="The customer was charged twice for INV-2026-0102.",
                decision={
                    "kind": "allow",
                    "rules": ["refund", "refund.when", "refunds-per-run"],
                    "reasons": ["refund grants erp.create_credit_note (irreversible)"],
                    "policy_version": "sha256:0123456789abcdef",
                    "effect": "irreversible",
                }
                if kind == "call.decided"
                else None,
                result={"id": n, "invoice_id": 102, "amount": 120.5}
                if kind == "call.executed"
                else None,
                duration_seconds=0.0123 if kind == "call.executed" else None,
                trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
                span_id="00f067aa0ba902b7",
            )
        )
    return out


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} events/s  ({count:,} in {seconds:.2f} s)"


def run(name: str, url: str, keys: KeyStore, *, single: int, batched: int, batch: int) -> None:
    print(f"\n{name}")
    with AuditLog(url, keys=keys) as log:
        log.append(events(1)[0])  # connect, migrate, make the key: not measured
        one_by_one = events(single, 1)
        started = time.perf_counter()
        for event in one_by_one:
            log.append(event)
        print(f"  append, one at a time  {rate(single, time.perf_counter() - started)}")
        many = events(batched, 1 + single)
        started = time.perf_counter()
        for index in range(0, batched, batch):
            log.append_many(many[index : index + batch])
        print(f"  append, {batch:,} a batch  {rate(batched, time.perf_counter() - started)}")
        started = time.perf_counter()
        report = verify(log.engine, keys=keys)
        elapsed = time.perf_counter() - started
        if not report.intact:
            raise SystemExit(f"the benchmark's own log does not verify: {report.problems}")
        print(f"  verify                 {rate(report.events, elapsed)}")
        print(f"  ({report.checkpoints} checkpoints, signed through event {report.signed_through})")


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--single", type=int, default=2_000, help="events appended one by one")
    parser.add_argument("--batch", type=int, default=1_000, help="events per batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = KeyStore(Path(tmp) / "keys")
        options = {"single": args.single, "batched": args.events, "batch": args.batch}
        run("SQLite (WAL, file)", f"sqlite:///{tmp}/bench.db", keys, **options)
        base = os.environ.get("TETHER_TEST_DATABASE_URL")
        if base:
            with postgres_schema(base) as url:
                run("PostgreSQL", url, keys, **options)
        else:
            print("\nPostgreSQL: skipped (set TETHER_TEST_DATABASE_URL to include it)")


if __name__ == "__main__":
    main()
