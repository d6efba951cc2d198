"""Sending checkpoints to witnesses: in order, retried, never in the way of appends.

After a transaction that wrote a checkpoint commits, the log wakes a delivery thread
of its own. For each witness it reads, from ``tether_audit_witness``, the last
checkpoint the witness acknowledged, and sends every later one in order (a witness
never seen before gets only the latest: it starts there). A witness that is down is
tried again every ``retry_seconds``; what it has not acknowledged is the gap that
``verify`` reports. A witness that refuses a checkpoint (it does not extend what the
witness holds) is an incident: recorded in ``tether_audit_witness`` and as an
``audit.witness_refused`` event.

Appends never wait for a witness, unless it is ``required``: then, while its last
delivery failed, appends are refused (:class:`~tether.audit.WitnessUnavailable`),
so nothing happens that a witness has not been able to see, give or take the
events since the last checkpoint.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tether.audit._canonical import canonical_json, format_time
from tether.audit._checkpoint import Checkpoint
from tether.audit._errors import AuditError, WitnessRefused, WitnessUnavailable
from tether.audit._handover import Handover
from tether.audit._witness import Behind, Witness
from tether.db import audit_checkpoint, audit_witness, reading

log = logging.getLogger("tether.audit")

Status = Literal["cosigned", "stored", "refused", "unavailable"]
Incident = Callable[[str, Checkpoint, str], None]
"""Records a refusal: (witness name, checkpoint, reason)."""
_BATCH = 500


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """What one witness answered in one round."""

    witness: str
    status: Status | Literal["up_to_date"]
    sent: int
    """Checkpoints it took this round."""
    detail: str = ""


class Deliverer:
    """One log's witnesses, and the thread that feeds them."""

    def __init__(
        self,
        witnesses: Sequence[Witness],
        *,
        required: bool,
        retry_seconds: float,
        engine: Callable[[], Engine],
        checkpoint_of: Callable[[object], Checkpoint],
        public_pem: Callable[[str], str],
        handovers: Callable[[str], Sequence[Handover]] = lambda key_id: (),
        incident: Incident,
    ) -> None:
        self.witnesses = list(witnesses)
        self.required = required
        self.retry_seconds = retry_seconds
        self._engine = engine
        self._checkpoint_of = checkpoint_of
        self._public_pem = public_pem
        self._handovers = handovers
        self._incident = incident
        self._failing: dict[str, str] = {}
        """Witnesses whose last delivery failed, and why."""
        self._round = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- for the log --------------------------------------------------------------

    def check(self) -> None:
        """Refuse to append while a required witness is behind."""
        if self.required and self._failing:
            name, reason = next(iter(self._failing.items()))
            raise WitnessUnavailable(
                f"a witness is required and {name} has not taken the latest checkpoints "
                f"({reason}); appends are refused until it does",
                witness=name,
            )

    def wake(self) -> None:
        """A checkpoint was committed: deliver it soon, in the background."""
        if not self.witnesses:
            return
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="tether-audit-witness", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def deliver(self) -> list[Delivery]:
        """One round now, in this thread: every witness gets what it lacks."""
        with self._round:
            return [self._deliver_to(witness) for witness in self.witnesses]

    # --- the round ----------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.retry_seconds if self._failing else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.deliver()
            except Exception:  # the thread must live on; the next round retries
                log.exception("delivering audit checkpoints to witnesses failed")
            time.sleep(0)  # let appenders in between rounds

    def _deliver_to(self, witness: Witness) -> Delivery:
        sent = 0
        try:
            last = self._acknowledged(witness.name)
            for _ in range(3):  # a witness that says it is behind is sent its gap
                backlog = self._backlog(last)
                if not backlog:
                    break
                try:
                    sent += self._send(witness, backlog)
                    break
                except Behind as behind:
                    last = behind.last
        except WitnessUnavailable as exc:
            self._failing[witness.name] = str(exc)
            return Delivery(witness=witness.name, status="unavailable", sent=sent, detail=str(exc))
        except WitnessRefused as exc:
            self._failing[witness.name] = str(exc)
            return Delivery(witness=witness.name, status="refused", sent=sent, detail=str(exc))
        except (AuditError, sa.exc.SQLAlchemyError) as exc:
            self._failing[witness.name] = str(exc)
            return Delivery(witness=witness.name, status="unavailable", sent=sent, detail=str(exc))
        self._failing.pop(witness.name, None)
        status: Literal["cosigned", "stored", "up_to_date"] = (
            "up_to_date" if not sent else "stored" if witness.kind == "file" else "cosigned"
        )
        return Delivery(witness=witness.name, status=status, sent=sent)

    def _backlog(self, last: int | None) -> list[Checkpoint]:
        table = audit_checkpoint
        query = sa.select(table).where(table.c.number.is_not(None))
        if last is None:
            query = query.order_by(table.c.number.desc()).limit(1)
        else:
            query = query.where(table.c.number > last).order_by(table.c.number).limit(_BATCH)
        with reading(self._engine()) as conn:
            return [self._checkpoint_of(row) for row in conn.execute(query)]

    def _acknowledged(self, witness: str) -> int | None:
        """The last checkpoint ``witness`` took, by number (None: none yet)."""
        with reading(self._engine()) as conn:
            value = conn.execute(
                sa.select(sa.func.max(audit_witness.c.number)).where(
                    audit_witness.c.witness == witness,
                    audit_witness.c.status.in_(("cosigned", "stored")),
                )
            ).scalar()
        return None if value is None else int(value)

    def _send(self, witness: Witness, backlog: list[Checkpoint]) -> int:
        sent = 0
        for checkpoint in backlog:
            try:
                cosignature = witness.submit(
                    checkpoint,
                    self._public_pem(checkpoint.key_id),
                    self._handovers(checkpoint.key_id),
                )
            except WitnessRefused as exc:
                self._record(witness.name, checkpoint, "refused", detail=str(exc))
                self._incident(witness.name, checkpoint, str(exc))
                raise
            receipt = None if cosignature is None else canonical_json(cosignature.to_dict())
            status: Status = "stored" if cosignature is None else "cosigned"
            self._record(witness.name, checkpoint, status, receipt=receipt)
            sent += 1
        return sent

    def _record(
        self,
        witness: str,
        checkpoint: Checkpoint,
        status: Status,
        *,
        receipt: str | None = None,
        detail: str | None = None,
    ) -> None:
        with self._engine().begin() as conn:
            conn.execute(
                audit_witness.insert(),
                {
                    "witness": witness,
                    "number": checkpoint.number,
                    "status": status,
                    "at": format_time(_dt.datetime.now(_dt.UTC)),
                    "receipt": receipt,
                    "detail": detail,
                },
            )
