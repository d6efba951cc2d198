"""Witnessed checkpoints (issue 17, item 1): a cut tail with its checkpoints deleted is
found through the witnesses; a witness that is down delays nothing; an inconsistent
checkpoint is refused and recorded as an incident."""

from __future__ import annotations

import base64
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from typer.testing import CliRunner

from tests.audit.conftest import attacker, event
from tether.audit import (
    AuditLog,
    FileWitness,
    Handover,
    KeyStore,
    ServerWitness,
    WitnessRefused,
    WitnessUnavailable,
    verify,
    witness_app,
)
from tether.audit._checkpoint import sign_checkpoint
from tether.audit._handover import handover_payload
from tether.audit._witness import Held
from tether.cli import app


def url_of(log: AuditLog) -> str:
    return log.engine.url.render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``tether witness serve``'s application, served over real HTTP in this process."""

    def __init__(self, folder: Path, port: int, *, trusted: Sequence[str] = ()) -> None:
        self.folder = folder
        self.port = port
        self.trusted = list(trusted)
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            witness_app(self.folder, trusted=self.trusted),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the witness server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    witness = Server(tmp_path / "witness", free_port())
    witness.start()
    yield witness
    witness.stop()


def fill(log: AuditLog, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        log.append(event(n))


def cut(log: AuditLog, after: int) -> None:
    """What someone who can write the database does: cut the tail and the checkpoints past it."""
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq > :s"), {"s": after})
        conn.execute(sa.text("DELETE FROM tether_audit_checkpoint WHERE seq > :s"), {"s": after})


def test_file_witness_detects_a_cut_tail(
    db: str, open_log: Callable[..., AuditLog], tmp_path: Path
) -> None:
    witness = FileWitness(tmp_path / "worm")
    log = open_log(db, checkpoint_every=5, witnesses=[witness])
    fill(log, 22)
    assert {d.status for d in log.send_to_witnesses()} <= {"stored", "up_to_date"}
    report = log.verify()
    assert report.intact and report.assurance == "exported"
    assert report.witnesses[0].latest_number == 5 and report.witnesses[0].behind == 0
    cut(log, 12)
    alone = verify(log.engine, keys=log.keys)
    assert alone.intact and alone.assurance == "local"  # the database alone cannot tell
    report = log.verify()
    assert report.first_problem is not None
    assert (report.first_problem.seq, report.first_problem.kind) == (13, "truncated")
    assert any(p.kind == "checkpoint_missing" for p in report.problems)


def test_server_witness_cosigns_and_detects(
    db: str, open_log: Callable[..., AuditLog], server: Server
) -> None:
    witness = ServerWitness(server.url)
    log = open_log(db, checkpoint_every=5, witnesses=[witness])
    fill(log, 22)
    (delivery,) = log.send_to_witnesses()
    assert delivery.status in ("cosigned", "up_to_date")
    report = log.verify()
    assert report.intact
    assert (report.assurance, report.witnessed_by) == ("witnessed", 1)
    cut(log, 12)
    report = log.verify()
    assert report.first_problem is not None
    assert (report.first_problem.seq, report.first_problem.kind) == (13, "truncated")


def test_background_delivery(db: str, open_log: Callable[..., AuditLog], server: Server) -> None:
    log = open_log(db, checkpoint_every=5, witnesses=[ServerWitness(server.url)])
    fill(log, 11)
    deadline = time.monotonic() + 10
    while log.verify().witnesses[0].latest_number != 3:
        assert time.monotonic() < deadline, "the checkpoints never reached the witness"
        time.sleep(0.05)


def test_witness_down_queues_and_retries(
    db: str, open_log: Callable[..., AuditLog], tmp_path: Path
) -> None:
    down = Server(tmp_path / "witness", free_port())
    log = open_log(db, checkpoint_every=5, witnesses=[ServerWitness(down.url, timeout_seconds=1)])
    fill(log, 12)  # nothing blocks the appends
    (delivery,) = log.send_to_witnesses()
    assert delivery.status == "unavailable"
    report = log.verify()
    assert report.intact and report.assurance == "local"
    assert not report.witnesses[0].reachable and report.witnesses[0].error
    down.start()
    try:
        (delivery,) = log.send_to_witnesses()
        # the background retry may have delivered the queued checkpoint already
        assert delivery.status in {"cosigned", "up_to_date"}
        fill(log, 6, start=12)
        log.send_to_witnesses()
        report = log.verify()
        assert report.assurance == "witnessed"
        assert report.witnesses[0].behind == 0
    finally:
        down.stop()


def test_required_witness_down_refuses_appends(
    sqlite_db: str, open_log: Callable[..., AuditLog], tmp_path: Path
) -> None:
    witness = ServerWitness(f"http://127.0.0.1:{free_port()}", timeout_seconds=1)
    log = open_log(sqlite_db, witnesses=[witness], require_witness=True)
    fill(log, 1)  # the first checkpoint: its delivery fails
    log.send_to_witnesses()
    with pytest.raises(WitnessUnavailable, match="a witness is required"):
        fill(log, 1, start=1)


def test_inconsistent_checkpoint_is_refused_as_an_incident(
    sqlite_db: str, open_log: Callable[..., AuditLog], server: Server, tmp_path: Path
) -> None:
    """A database restored from an old copy, then written again, forks the history."""
    database = Path(sa.make_url(sqlite_db).database or "")
    log = open_log(sqlite_db, checkpoint_every=5, witnesses=[ServerWitness(server.url)])
    fill(log, 6)
    log.send_to_witnesses()
    log.close()
    shutil.copy(database, tmp_path / "old.db")
    log = open_log(sqlite_db, checkpoint_every=5, witnesses=[ServerWitness(server.url)])
    fill(log, 6, start=6)
    log.send_to_witnesses()
    log.close()
    shutil.copy(tmp_path / "old.db", database)  # the rollback
    log = open_log(sqlite_db, checkpoint_every=5, witnesses=[ServerWitness(server.url)])
    fill(log, 7, start=100)
    (delivery,) = log.send_to_witnesses()
    assert delivery.status == "refused"
    incidents = [s for s in log.events(type="audit.witness_refused")]
    assert incidents and incidents[0].event.details
    assert incidents[0].event.details["witness"] == server.url
    with log.engine.connect() as conn:
        statuses = set(conn.execute(sa.text("SELECT status FROM tether_audit_witness")).scalars())
    assert "refused" in statuses
    report = log.verify()
    assert not report.intact  # the witness holds checkpoints the database does not
    assert ServerWitness(server.url).incidents()


def forged_next(log: AuditLog, keys: KeyStore, handovers: Sequence[Handover] = ()) -> Held:
    """The checkpoint that would come next, signed by ``keys``, which is not the log's."""
    last = log.checkpoints()[-1]
    assert last.number is not None
    forged = sign_checkpoint(
        keys.signing_key(),
        log_id=last.log_id,
        seq=last.seq,
        hash=last.hash,
        at=last.at,
        kind="manual",
        number=last.number + 1,
        prev=last.digest(),
    )
    active = keys.active_id() or ""
    return Held(checkpoint=forged, public_key=keys.public_pem(active), handovers=tuple(handovers))


def test_a_witness_refuses_a_key_that_is_not_the_logs(
    db: str, open_log: Callable[..., AuditLog], server: Server, tmp_path: Path
) -> None:
    """Whoever can write the database cannot make a witness take checkpoints signed by a
    key of their own: the witness pinned the log's key with its first checkpoint."""
    log = open_log(db, checkpoint_every=5, witnesses=[ServerWitness(server.url)])
    fill(log, 11)
    log.send_to_witnesses()
    mallory = KeyStore(tmp_path / "mallory")
    forged = forged_next(log, mallory)
    with pytest.raises(WitnessRefused, match="no handover signed by"):
        ServerWitness(server.url).submit(forged.checkpoint, forged.public_key)
    (incident,) = ServerWitness(server.url).incidents()
    assert "is not the log's" in incident["reason"]
    # nor with a handover to their key that they signed themselves
    own = KeyStore(tmp_path / "mallory")
    fake = Handover(
        from_key=log.checkpoints()[-1].key_id,
        to_key=own.active_id() or "",
        public_key=forged.public_key,
        at="2026-12-02T00:00:00.000000Z",
        signature=base64.b64encode(
            own.signing_key().sign(
                handover_payload(
                    log.checkpoints()[-1].key_id,
                    own.active_id() or "",
                    forged.public_key,
                    "2026-12-02T00:00:00.000000Z",
                )
            )
        ).decode(),
    )
    with pytest.raises(WitnessRefused, match="no handover signed by"):
        ServerWitness(server.url).submit(forged.checkpoint, forged.public_key, [fake])
    # the log's own next checkpoint is taken as if nothing happened
    fill(log, 5, start=11)
    (delivery,) = log.send_to_witnesses()
    assert delivery.status == "cosigned"
    report = log.verify()
    assert report.intact and report.assurance == "witnessed"


def test_a_file_witness_pins_the_key_too(
    sqlite_db: str, open_log: Callable[..., AuditLog], tmp_path: Path
) -> None:
    witness = FileWitness(tmp_path / "copies")
    log = open_log(sqlite_db, checkpoint_every=5, witnesses=[witness])
    fill(log, 6)
    log.send_to_witnesses()
    forged = forged_next(log, KeyStore(tmp_path / "mallory"))
    with pytest.raises(WitnessRefused, match="a key that is not the log's"):
        witness.submit(forged.checkpoint, forged.public_key)


def test_a_rotated_key_is_followed_through_its_handover(
    db: str, open_log: Callable[..., AuditLog], server: Server, tmp_path: Path
) -> None:
    """``tether audit keys rotate``: the old key hands over to the new one before its
    private half is deleted, and the witnesses follow (twice over, for one that was
    down during the first rotation)."""
    copies = FileWitness(tmp_path / "copies")
    log = open_log(db, checkpoint_every=5, witnesses=[ServerWitness(server.url), copies])
    fill(log, 6)
    log.send_to_witnesses()
    first = log.keys.active_id()
    second = log.rotate_key()
    fill(log, 6, start=6)
    third = log.rotate_key()
    fill(log, 6, start=12)
    deliveries = log.send_to_witnesses()
    # (the background delivery may have sent them already)
    assert {d.status for d in deliveries} <= {"cosigned", "stored", "up_to_date"}
    chain = log.keys.handovers(third)
    assert [(h.from_key, h.to_key) for h in chain] == [(first, second), (second, third)]
    report = log.verify()
    assert report.intact and report.assurance == "witnessed"
    assert [w.behind for w in report.witnesses] == [0, 0]
    kept = copies.held(report.log_id)
    assert {held.checkpoint.key_id for held in kept} == {first, second, third}
    assert any(held.handovers for held in kept)


def test_a_witness_given_trusted_keys_takes_no_other_new_log(
    sqlite_db: str, open_log: Callable[..., AuditLog], tmp_path: Path
) -> None:
    """``tether witness serve --trust log.pub``: no first use to trust; a new log whose
    key is not trusted is refused as an incident, a trusted one is cosigned."""
    trusted_keys = KeyStore(tmp_path / "trusted-keys")
    trusted_keys.signing_key()
    pem = trusted_keys.public_pem(trusted_keys.active_id() or "")
    server = Server(tmp_path / "witness", free_port(), trusted=[pem])
    server.start()
    try:
        stranger = open_log(sqlite_db, checkpoint_every=5, witnesses=[ServerWitness(server.url)])
        fill(stranger, 6)
        (delivery,) = stranger.send_to_witnesses()
        assert delivery.status == "refused"
        assert "is not one it trusts" in ServerWitness(server.url).incidents()[0]["reason"]
        with AuditLog(
            f"sqlite:///{tmp_path / 'trusted.db'}",
            keys=trusted_keys,
            checkpoint_every=5,
            witnesses=[ServerWitness(server.url)],
        ) as trusted:
            fill(trusted, 6)
            statuses = [d.status for d in trusted.send_to_witnesses()]
            assert statuses in (["cosigned"], ["up_to_date"])
            assert trusted.verify().assurance == "witnessed"
    finally:
        server.stop()


@pytest.mark.parametrize(("content", "says"), [(None, "cannot read"), ("not a key", "unusable")])
def test_witness_serve_refuses_a_bad_trusted_key(
    tmp_path: Path, content: str | None, says: str
) -> None:
    key = tmp_path / "log.pub"
    if content is not None:
        key.write_text(content)
    result = CliRunner().invoke(
        app, ["witness", "serve", "--dir", str(tmp_path / "w"), "--trust", str(key)]
    )
    assert result.exit_code == 2
    assert says in result.output
