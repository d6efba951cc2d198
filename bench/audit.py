"""Audit trail throughput: appends, verification, witnessed checkpoints, evidence bundles.

    python bench/audit.py [--events N] [--single N] [--batch N] [--checkpoints N]

Runs on SQLite in a temporary directory and, when TETHER_TEST_DATABASE_URL is set, on
PostgreSQL in a schema of its own (dropped afterwards). Then, on SQLite: appends with
a file witness configured, the cost of one checkpoint with a file witness and with a
``tether witness serve`` witness (a process of its own), and an evidence bundle of
``--events`` events exported and verified offline. Targets (printed beside the
figures): appends >= 10,000 events/s batched on SQLite with a witness; verification
>= 250,000 events/s; a 100,000-event bundle verifies offline in <= 2 s. The events
are realistic: arguments, a decision with rules and reasons, a result. Nothing here
is asserted; the numbers are printed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

from tether.audit import AuditEvent, AuditLog, FileWitness, KeyStore, ServerWitness, verify
from tether.evidence import export_bundle, verify_bundle

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


def target(value: float, goal: float, *, at_most: bool = False) -> str:
    met = value <= goal if at_most else value >= goal
    return f"[target {'<=' if at_most else '>='} {goal:,.0f}: {'met' if met else 'MISSED'}]"


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
        print(
            f"  verify                 {rate(report.events, elapsed)}  "
            f"{target(report.events / elapsed, 250_000)}"
        )
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


def with_file_witness(tmp: str, keys: KeyStore, *, events_count: int, batch: int) -> None:
    print("\nSQLite with a file witness")
    witness = FileWitness(Path(tmp) / "worm")
    with AuditLog(f"sqlite:///{tmp}/witnessed.db", keys=keys, witnesses=[witness]) as log:
        log.append(events(1)[0])
        many = events(events_count, 1)
        started = time.perf_counter()
        for index in range(0, events_count, batch):
            log.append_many(many[index : index + batch])
        seconds = time.perf_counter() - started
        print(
            f"  append, {batch:,} a batch  {rate(events_count, seconds)}  "
            f"{target(events_count / seconds, 10_000)}"
        )
        log.send_to_witnesses()
        report = log.verify()
        print(f"  verify with the witness: intact={report.intact}, assurance={report.assurance}")


def checkpoint_cost(name: str, log: AuditLog, count: int) -> None:
    log.append(events(1)[0])
    log.send_to_witnesses()
    started = time.perf_counter()
    for n in range(count):
        log.append(events(1, n)[0])
        log.checkpoint()
        log.send_to_witnesses()
    seconds = time.perf_counter() - started
    print(f"  checkpoint + delivery, {name:<14} {seconds / count * 1000:8.2f} ms each ({count})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def witness_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-c", "from tether.cli import main; main()", "witness", "serve",
               "--dir", str(folder), "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/v1/key", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("tether witness serve did not start")


def checkpoints(tmp: str, keys: KeyStore, count: int) -> None:
    print("\nCheckpoint cost (sign, store, deliver to the witness), SQLite")
    with AuditLog(f"sqlite:///{tmp}/cp-none.db", keys=keys) as log:
        checkpoint_cost("no witness", log, count)
    witness = FileWitness(Path(tmp) / "cp-worm")
    with AuditLog(f"sqlite:///{tmp}/cp-file.db", keys=keys, witnesses=[witness]) as log:
        checkpoint_cost("file witness", log, count)
    process, url = witness_server(Path(tmp) / "cp-server")
    try:
        with AuditLog(
            f"sqlite:///{tmp}/cp-server.db", keys=keys, witnesses=[ServerWitness(url)]
        ) as log:
            checkpoint_cost("witness server", log, count)
    finally:
        process.terminate()
        process.wait(timeout=10)


def bundle(tmp: str, keys: KeyStore, count: int, batch: int) -> None:
    print(f"\nEvidence bundle of {count:,} events, SQLite")
    with AuditLog(f"sqlite:///{tmp}/bundle.db", keys=keys) as log:
        many = events(count)
        for index in range(0, count, batch):
            log.append_many(many[index : index + batch])
        path = Path(tmp) / "bundle.json"
        started = time.perf_counter()
        manifest = export_bundle(log, path, agent="support-desk")
        seconds = time.perf_counter() - started
        print(f"  export                 {rate(len(manifest['selected']), seconds)}")
    started = time.perf_counter()
    report = verify_bundle(path, keys=keys.path)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the benchmark's own bundle does not verify: {report.problems}")
    size = path.stat().st_size / 1e6
    print(
        f"  verify offline         {rate(report.events, seconds)}  "
        f"[{seconds:.2f} s; target <= 2 s: {'met' if seconds <= 2 else 'MISSED'}]  "
        f"({size:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--single", type=int, default=2_000, help="events appended one by one")
    parser.add_argument("--batch", type=int, default=1_000, help="events per batch")
    parser.add_argument("--checkpoints", type=int, default=50, help="checkpoints timed")
    args = parser.parse_args()
    # Verification runs the column check beside the chain walk: it needs a second core.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load} (figures are lower on a busy machine)")
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
        with_file_witness(tmp, keys, events_count=args.events, batch=args.batch)
        checkpoints(tmp, keys, args.checkpoints)
        bundle(tmp, keys, args.events, args.batch)


if __name__ == "__main__":
    main()
