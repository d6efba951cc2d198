"""``tether audit``: verify, show, export and prune the audit trail; rotate its keys.

Exit codes: 0 ok (and, for ``verify``, intact); 1 ``verify`` found damage; 2 the log
could not be read or checked at all (no such database, a missing key…).
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tether.audit import KEYS_ENV, AuditError
from tether.errors import ConfigurationError
from tether.identity import Actor

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tether.audit import AuditLog, StoredEvent, VerifyReport, Witness

# What a command needs beyond its options is imported in the command: ``--help`` and
# ``verify`` load neither the tether.yaml's policy nor the writing side of the log.

app = typer.Typer(
    help="Verify, query and export the tamper-evident audit trail.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage the keys that sign audit checkpoints.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: TETHER_DATABASE_URL or the embedded one)."),
]
KeysOption = Annotated[
    Path | None,
    typer.Option("--keys", help="Key directory (default: TETHER_AUDIT_KEYS or .tether/keys)."),
]
RunOption = Annotated[str | None, typer.Option("--run", help="Only this run.")]
AgentOption = Annotated[str | None, typer.Option("--agent", help="Only this agent.")]
PrincipalOption = Annotated[
    str | None, typer.Option("--principal", help="Only calls for this person.")
]
ToolOption = Annotated[str | None, typer.Option("--tool", help="Only this tool.")]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Only events since: an ISO time or a duration ago (2h, 7d)."),
]


def _database(db: str | None) -> str:
    """--db, else TETHER_DATABASE_URL, else the tether.yaml in use, else the embedded one."""
    from tether.config import state_location
    from tether.db import database_url

    return database_url(state_location(db)[0])


def _keys(keys: Path | None) -> Path | None:
    """--keys, else the tether.yaml's key folder (else the default)."""
    if keys is not None or os.environ.get(KEYS_ENV):
        return keys
    from tether.config import state_location

    found = state_location(None, None)[1]
    return Path(found) if found else None


WitnessOption = Annotated[
    list[str] | None,
    typer.Option(
        "--witness",
        help="A witness to check against: a folder (file witness) or the URL of a "
        "`tether witness serve` (repeatable; default: the tether.yaml's witnesses).",
    ),
]


def _witnesses(given: list[str] | None) -> list[Witness]:
    """--witness values, else the witnesses of the tether.yaml in use (if any)."""
    from tether.config import audit_witnesses

    if given:
        return [_witness(item) for item in given]
    try:
        return audit_witnesses()
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None


def _witness(given: str) -> Witness:
    """A --witness value: a URL (a witness server; HTTP loaded for it), else a folder."""
    if given.startswith(("http://", "https://")):
        from tether.audit import ServerWitness

        return ServerWitness(given)
    from tether.audit import FileWitness

    return FileWitness(given)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _reading(db: str | None) -> Iterator[Engine]:
    """An engine for reading only: nothing is created or migrated."""
    from tether.db import DatabaseError, connect

    try:
        engine = connect(_database(db), migrate=False)
    except DatabaseError as exc:
        raise _fail(str(exc)) from None
    try:
        yield engine
    except AuditError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()


@contextmanager
def _writing(
    db: str | None, keys: Path | None, witnesses: list[Witness] | None = None
) -> Iterator[AuditLog]:
    from tether.audit import AuditLog
    from tether.db import DatabaseError

    try:
        with AuditLog(_database(db), keys=_keys(keys), witnesses=witnesses or ()) as audit:
            yield audit
    except (AuditError, DatabaseError) as exc:
        raise _fail(str(exc)) from None


def _since(value: str | None) -> _dt.datetime | None:
    if value is None:
        return None
    from tether.policy import parse_duration

    try:
        return _dt.datetime.now(_dt.UTC) - parse_duration(value)
    except ValueError:
        pass
    try:
        at = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            "write an ISO time (2026-11-25T09:00:00Z) or a duration (90m, 2h, 7d)",
            param_hint="--since",
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=_dt.UTC)


# --- verify ----------------------------------------------------------------------------


@app.command("verify")
def verify_command(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A checkpoint file kept outside the database."),
    ] = None,
    keys: KeysOption = None,
    witness: WitnessOption = None,
) -> None:
    """Check the hash chain, the checkpoints and the witnesses; exit 1 naming the first damage.

    Says which assurance it reached: local (the log's own signatures), exported (an
    operator's checkpoint file or file witness), witnessed (N witnesses' cosignatures).
    """
    from tether.audit import verify

    try:
        report = verify(
            _database(db),
            keys=_keys(keys),
            checkpoint=checkpoint,
            witnesses=_witnesses(witness),
        )
    except AuditError as exc:
        if as_json:
            print(json.dumps({"intact": False, "error": str(exc)}))
            raise typer.Exit(2) from None
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    if not report.intact:
        raise typer.Exit(1)


def _print_report(report: VerifyReport) -> None:
    span = f"{report.first_seq}-{report.last_seq}" if report.events else "none"
    checkpoints = f"{report.checkpoints} valid checkpoint{'' if report.checkpoints == 1 else 's'}"
    summary = (
        f"{report.events} events ({span}), {checkpoints}, "
        f"signed through event {report.signed_through if report.signed_through else '-'}"
    )
    first = report.first_problem
    if first is None:
        out.print(f"[green]intact[/green] log {report.log_id}: {summary}", highlight=False)
        _print_assurance(report)
        if report.last_seq and (report.signed_through or 0) < report.last_seq:
            unsigned = report.last_seq - (report.signed_through or 0)
            out.print(
                f"  {unsigned} latest event(s) not yet covered by a checkpoint "
                "(`tether audit checkpoint` signs one now)",
                highlight=False,
            )
        return
    out.print(
        f"[red]DAMAGED[/red] log {report.log_id}: first bad event {first.seq}: "
        f"[bold]{first.kind}[/bold]",
        highlight=False,
    )
    for problem in report.problems:
        out.print(
            f"  event {problem.seq}: {problem.kind}: {escape(problem.message)}", highlight=False
        )
    out.print(f"  checked: {summary}", highlight=False)
    _print_assurance(report)


def _print_assurance(report: VerifyReport) -> None:
    witnessed = f" by {report.witnessed_by}" if report.assurance == "witnessed" else ""
    out.print(f"  assurance: {report.assurance}{witnessed}", highlight=False)
    for check in report.witnesses:
        if not check.reachable:
            out.print(
                f"  witness {escape(check.name)}: [yellow]unreachable[/yellow]: "
                f"{escape(check.error or '')}",
                highlight=False,
            )
            continue
        latest = (
            f"through checkpoint {check.latest_number} (event {check.latest_seq})"
            if check.latest_number is not None
            else "no checkpoint of this log"
        )
        gap = f"; {check.behind} checkpoint(s) not witnessed yet" if check.behind else ""
        out.print(f"  witness {escape(check.name)}: {latest}{gap}", highlight=False)


# --- show ------------------------------------------------------------------------------


@app.command("show")
def show(
    run: RunOption = None,
    agent: AgentOption = None,
    principal: PrincipalOption = None,
    tool: ToolOption = None,
    since: SinceOption = None,
    limit: Annotated[int, typer.Option(help="Show at most the latest N events.")] = 100,
    db: DbOption = None,
) -> None:
    """The latest events as a table: when, what, who, which tool, decided how, why."""
    from tether.audit import AuditLog

    with _reading(db) as engine:
        audit = AuditLog(engine)
        events = list(
            audit.events(
                run=run,
                agent=agent,
                principal=principal,
                tool=tool,
                since=_since(since),
                limit=limit,
                newest=True,
            )
        )
    if not events:
        out.print("no audit events match")
        return
    if out.width >= WIDE_TABLE_COLUMNS:
        out.print(_table(events))
        return
    out.print(f"audit events ({len(events)}), newest first", highlight=False)
    for stored in events:
        out.print(_block(stored), highlight=False)


WIDE_TABLE_COLUMNS = 140
"""From this terminal width on, events are shown as one table; narrower, one block each
(a table of eight columns in 80 would wrap every cell into one-word lines)."""


def _table(events: list[StoredEvent]) -> Table:
    table = Table(title=f"audit events ({len(events)})")
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("run / call")
    table.add_column("agent for principal")
    table.add_column("tool")
    table.add_column("outcome")
    table.add_column("why / detail", overflow="fold", ratio=1)
    for stored in events:
        table.add_row(*_row(stored))
    return table


def _block(stored: StoredEvent) -> Table:
    """One event: a heading line, then one labelled line per field that has a value."""
    seq, at, kind, where, who, tool, outcome, detail = _row(stored)
    block = Table.grid(padding=(0, 1))
    block.add_column(no_wrap=True, style="dim", min_width=9)
    block.add_column(overflow="fold")
    block.add_row(f"#{seq}", f"{at}  {kind}")
    for label, value in (
        ("run", where),
        ("who", who),
        ("tool", tool),
        ("outcome", outcome),
        ("why", detail),
    ):
        if value:
            block.add_row(f"  {label}", value)
    return block


def _row(stored: StoredEvent) -> list[str]:
    event = stored.event
    who = event.agent or ""
    if event.principal:
        who = f"{who} for {event.principal}" if who else event.principal
    return [
        str(stored.seq),
        event.at.strftime("%Y-%m-%d %H:%M:%S"),
        event.type,
        escape(f"{event.run_id} / {event.call_id}" if event.call_id else event.run_id),
        escape(who),
        escape(event.tool or ""),
        escape(_outcome(stored)),
        escape(_detail(stored)),
    ]


def _outcome(stored: StoredEvent) -> str:
    event = stored.event
    if event.decision:
        rules = ", ".join(str(rule) for rule in event.decision.get("rules") or ())
        return f"{event.decision.get('kind')} ({rules})" if rules else str(event.decision["kind"])
    if event.approval and event.approval.get("verdict"):
        return f"{event.approval['verdict']} by {event.approval.get('by', '?')}"
    if event.type == "call.executed":
        return "executed"
    if event.type == "call.failed":
        return "failed"
    return ""


def _detail(stored: StoredEvent) -> str:
    event = stored.event
    if event.error:
        return event.error
    if event.decision and event.decision.get("reasons"):
        return "; ".join(str(reason) for reason in event.decision["reasons"])
    if event.approval and event.approval.get("comment"):
        return str(event.approval["comment"])
    return event.why or ""


# --- export ----------------------------------------------------------------------------


@app.command("export")
def export(
    format: Annotated[
        Literal["jsonl", "otel"],
        typer.Option("--format", help="jsonl: stored records; otel: OpenTelemetry spans."),
    ] = "jsonl",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of standard output.")
    ] = None,
    run: RunOption = None,
    agent: AgentOption = None,
    principal: PrincipalOption = None,
    tool: ToolOption = None,
    since: SinceOption = None,
    content: Annotated[
        bool,
        typer.Option(
            "--content", help="otel: add the (redacted) arguments and results to the spans."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Export events as JSON Lines, or as OpenTelemetry spans (one JSON span per line)."""
    from tether.audit import AuditLog, JsonLinesSpanExporter, export_jsonl, export_spans

    with _reading(db) as engine:
        events = AuditLog(engine).events(
            run=run, agent=agent, principal=principal, tool=tool, since=_since(since)
        )
        stream = out_file.open("w") if out_file else sys.stdout
        try:
            if format == "jsonl":
                count = export_jsonl(events, stream)
                what = "events"
            else:
                exporter = JsonLinesSpanExporter(stream)
                count = export_spans(events, exporter, include_content=content)
                what = "spans"
                if exporter.error is not None:
                    raise _fail(f"could not write the spans: {exporter.error}")
        finally:
            if out_file:
                stream.close()
    if out_file:
        err.print(f"wrote {count} {what} to {out_file}", highlight=False)


# --- checkpoint, prune, keys ------------------------------------------------------------


@app.command("checkpoint")
def checkpoint(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the checkpoint to this file.")
    ] = None,
    db: DbOption = None,
    keys: KeysOption = None,
    witness: WitnessOption = None,
) -> None:
    """Sign a checkpoint for the latest event now and send it to the witnesses; keep the
    --out file outside the database."""
    with _writing(db, keys, _witnesses(witness)) as audit:
        made = audit.export_checkpoint(out_file) if out_file else audit.checkpoint()
        deliveries = audit.send_to_witnesses()
    if made is None:
        out.print("the audit log is empty: nothing to sign yet")
        return
    where = f", written to {out_file}" if out_file else ""
    out.print(
        f"signed checkpoint for event {made.seq} with key {made.key_id}{where}",
        highlight=False,
    )
    for delivery in deliveries:
        detail = f": {escape(delivery.detail)}" if delivery.detail else ""
        name = escape(delivery.witness)
        out.print(f"  witness {name}: {delivery.status}{detail}", highlight=False)
    if any(d.status in ("refused", "unavailable") for d in deliveries):
        raise typer.Exit(1)


@app.command("prune")
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Retention period: remove events older than this.")
    ] = "190d",
    db: DbOption = None,
    keys: KeysOption = None,
) -> None:
    """Remove events past the retention period; a signed checkpoint marks the cut."""
    from tether.policy import parse_duration

    try:
        period = parse_duration(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    who = Actor(account=getpass.getuser(), surface="cli", method="local")
    with _writing(db, keys) as audit:
        result = audit.prune(older_than=period, actor=who.record())
    if result.checkpoint is None:
        out.print(f"nothing to prune: no event is older than {result.cutoff:%Y-%m-%d %H:%M} UTC")
        return
    out.print(
        f"removed {result.removed} events through event {result.checkpoint.seq}; "
        f"pruning checkpoint signed with key {result.checkpoint.key_id}",
        highlight=False,
    )


@keys_app.command("rotate")
def rotate(db: DbOption = None, keys: KeysOption = None) -> None:
    """Make a new signing key; old public keys stay so old checkpoints still verify."""
    with _writing(db, keys) as audit:
        old = audit.keys.active_id()
        new = audit.rotate_key()
    out.print(
        f"signing with key {new} (was {old or 'none'}); old private keys deleted, public keys "
        f"kept in {audit.keys.path}",
        highlight=False,
    )


@keys_app.command("list")
def list_keys(keys: KeysOption = None) -> None:
    """The keys in the key directory, and which one signs."""
    from tether.audit import KeyStore

    store = KeyStore(_keys(keys))
    try:
        public = store.public_keys()
    except AuditError as exc:
        raise _fail(str(exc)) from None
    if not public:
        out.print(f"no keys in {store.path}; one is made when the first checkpoint is signed")
        return
    active = store.active_id()
    table = Table(title=f"audit keys in {store.path}")
    table.add_column("key id")
    table.add_column("signs")
    table.add_column("private key here")
    for key_id in public:
        private = (store.path / f"{key_id}.key").exists()
        table.add_row(key_id, "yes" if key_id == active else "", "yes" if private else "")
    out.print(table)
