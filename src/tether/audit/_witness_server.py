"""``tether witness serve``: a separate process, with its own key, that keeps checkpoints.

It takes a checkpoint only if its signature verifies with the public key sent beside
it (whose id it must match) and it extends the last checkpoint of its log that the
witness holds (:class:`~tether.audit._witness.WitnessBook`); it cosigns what it takes.
A checkpoint that does not extend is refused and written to ``incidents.jsonl``. Run
it where the database's administrators cannot write: another host, another account.
"""


import datetime as _dt
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tether.audit._canonical import canonical_json, format_time
from tether.audit._checkpoint import Checkpoint
from tether.audit._errors import AuditError, WitnessRefused, WitnessUnavailable
from tether.audit._keys import KeyStore, key_id_of
from tether.audit._witness import Behind, Held, WitnessBook, cosign, load_public_key


class WitnessService:
    """What the server does, without HTTP: check, keep, cosign, report incidents.

    ``trusted``: public keys (PEM) the witness takes a new log's first checkpoint from;
    empty, it takes any log's first checkpoint and pins its key (trust on first use).
    """

    def __init__(self, folder: str | Path, *, trusted: Sequence[str] = ()) -> None:
        self.folder = Path(folder)
        self.keys = KeyStore(self.folder / "key")
        self.key = self.keys.signing_key()
        self.book = WitnessBook(self.folder / "logs", name=f"witness {self.key.key_id}")
        self.trusted = {
            key_id_of(load_public_key(pem, what="a trusted log key")) for pem in trusted
        }
        """The ids of the keys a new log may start with (empty: any)."""
        self._lock = threading.Lock()

    def public_pem(self) -> str:
        return self.keys.public_pem(self.key.key_id)

    def take(self, data: Any) -> tuple[int, dict[str, Any]]:
        """An HTTP status and body for one submitted checkpoint."""
        try:
            held = Held.from_dict(data, where="the submission")
            self._check_signature(held)
            self._check_trusted(held)
            with self._lock:
                now = format_time(_dt.datetime.now(_dt.UTC))
                kept = self.book.add(held, sign=lambda: cosign(self.key, held.checkpoint, now))
        except Behind as behind:
            return 409, {"error": "behind", "last": behind.last}
        except WitnessRefused as exc:
            self._incident(data, str(exc))
            return 422, {"error": "inconsistent", "detail": str(exc)}
        except WitnessUnavailable as exc:
            return 503, {"error": "unavailable", "detail": str(exc)}
        except AuditError as exc:
            return 400, {"error": "bad_request", "detail": str(exc)}
        if kept.cosignature is None:  # held before by a file witness sharing the folder
            return 409, {"error": "behind", "last": None}
        return 200, {"cosignature": kept.cosignature.to_dict()}

    def _check_signature(self, held: Held) -> None:
        checkpoint: Checkpoint = held.checkpoint
        key = load_public_key(held.public_key, what="the log's public key")
        if key_id_of(key) != checkpoint.key_id:
            raise WitnessRefused(
                f"the public key sent is not {checkpoint.key_id}", witness=self.book.name
            )
        if not checkpoint.signature_valid(key):
            raise WitnessRefused(
                f"checkpoint {checkpoint.number} does not verify with key {checkpoint.key_id}",
                witness=self.book.name,
            )

    def _check_trusted(self, held: Held) -> None:
        """A new log must start with a trusted key, when the witness was given any."""
        if not self.trusted or self.book.knows(held.checkpoint.log_id):
            return
        key_id = held.checkpoint.key_id
        if key_id not in self.trusted:
            raise WitnessRefused(
                f"log {held.checkpoint.log_id} is new to this witness and its key {key_id} "
                f"is not one it trusts ({', '.join(sorted(self.trusted))})",
                witness=self.book.name,
            )

    def held(self, log_id: str) -> tuple[int, Any]:
        try:
            return 200, [held.to_dict() for held in self.book.held(log_id)]
        except WitnessRefused as exc:
            return 400, {"error": "bad_request", "detail": str(exc)}
        except AuditError as exc:
            return 500, {"error": "damaged", "detail": str(exc)}

    def _incident(self, data: Any, reason: str) -> None:
        entry = {"at": format_time(_dt.datetime.now(_dt.UTC)), "reason": reason, "sent": data}
        with (self.folder / "incidents.jsonl").open("a") as file:
            file.write(canonical_json(entry) + "\n")

    def incidents(self) -> list[dict[str, Any]]:
        path = self.folder / "incidents.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def witness_app(folder: str | Path, *, trusted: Sequence[str] = ()) -> Any:
    """The witness's ASGI application (FastAPI); ``trusted``: see :class:`WitnessService`."""
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse
    except ImportError:  # pragma: no cover
        raise AuditError("the witness server needs FastAPI: install tether[web]") from None
    service = WitnessService(folder, trusted=trusted)
    app = FastAPI(title="tether witness", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.post("/v1/checkpoints")
    async def take(request: Request) -> JSONResponse:
        try:
            data = await request.json()
        except ValueError:
            return JSONResponse({"error": "bad_request", "detail": "not JSON"}, status_code=400)
        status, body = service.take(data)
        return JSONResponse(body, status_code=status)

    @app.get("/v1/logs/{log_id}/checkpoints")
    async def held(log_id: str) -> JSONResponse:
        status, body = service.held(log_id)
        return JSONResponse(body, status_code=status)

    @app.get("/v1/key")
    async def key() -> JSONResponse:
        return JSONResponse({"key_id": service.key.key_id, "public_key": service.public_pem()})

    @app.get("/v1/incidents")
    async def incidents() -> JSONResponse:
        return JSONResponse(service.incidents())

    return app
