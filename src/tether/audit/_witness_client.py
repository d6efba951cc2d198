"""The client of a ``tether witness serve`` process: send checkpoints, read them back.

POST /v1/checkpoints             {"checkpoint": {...}, "public_key": PEM}
     200 {"cosignature": {...}}  taken (or already held)
     409 {"error": "behind", "last": N}
     422 {"error": "inconsistent", "detail": "..."}   refused: an incident
GET  /v1/logs/{log_id}/checkpoints   [{"checkpoint", "public_key", "cosignature"}, ...]
GET  /v1/key                     {"key_id": ..., "public_key": PEM}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tether.audit._checkpoint import Checkpoint
from tether.audit._errors import AuditError, WitnessRefused, WitnessUnavailable
from tether.audit._handover import Handover
from tether.audit._keys import key_id_of
from tether.audit._witness import Behind, Cosignature, Held, WitnessKind, load_public_key


class ServerWitness:
    """A witness server at ``url``; ``public_key`` (a ``.pub`` file) pins its key."""

    kind: WitnessKind = "server"

    def __init__(
        self,
        url: str,
        *,
        public_key: str | Path | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.name = self.url
        self.timeout_seconds = timeout_seconds
        self._pinned = (
            load_public_key(Path(public_key).read_bytes(), what=str(public_key))
            if public_key is not None
            else None
        )

    def __repr__(self) -> str:
        return f"ServerWitness({self.url!r})"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # A connection per request: checkpoints are rare, and nothing is left open
        # by a log that is never closed.
        try:
            with httpx.Client(base_url=self.url, timeout=self.timeout_seconds) as client:
                return client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise WitnessUnavailable(
                f"witness {self.url} cannot be reached: {exc}", witness=self.name
            ) from None

    def incidents(self) -> list[Any]:
        """The checkpoints the witness refused (its incident log)."""
        return list(_json(self._request("GET", "/v1/incidents"), many=True))

    def submit(
        self, checkpoint: Checkpoint, public_key: str, handovers: Sequence[Handover] = ()
    ) -> Cosignature | None:
        sent: dict[str, Any] = {"checkpoint": checkpoint.to_dict(), "public_key": public_key}
        if handovers:
            sent["handovers"] = [handover.to_dict() for handover in handovers]
        answer = self._request("POST", "/v1/checkpoints", json=sent)
        data = _json(answer)
        if answer.status_code == 409 and data.get("error") == "behind":
            last = data.get("last")
            raise Behind(last if isinstance(last, int) else None)
        if answer.status_code == 422:
            raise WitnessRefused(
                f"witness {self.url} refused checkpoint {checkpoint.number}: "
                f"{data.get('detail', answer.text)}",
                witness=self.name,
            )
        if answer.status_code != 200:
            raise WitnessUnavailable(
                f"witness {self.url} answered {answer.status_code}: {answer.text[:200]}",
                witness=self.name,
            )
        try:
            cosignature = Cosignature.from_dict(data.get("cosignature"))
        except AuditError as exc:
            raise WitnessUnavailable(f"witness {self.url}: {exc}", witness=self.name) from None
        key = self.public_key()
        if key is not None and not cosignature.valid(checkpoint, key):
            raise WitnessUnavailable(
                f"witness {self.url} answered with a cosignature that does not verify",
                witness=self.name,
            )
        return cosignature

    def held(self, log_id: str) -> list[Held]:
        answer = self._request("GET", f"/v1/logs/{log_id}/checkpoints")
        if answer.status_code != 200:
            raise WitnessUnavailable(
                f"witness {self.url} answered {answer.status_code}", witness=self.name
            )
        data = _json(answer, many=True)
        return [Held.from_dict(item, where=f"witness {self.url}") for item in data]

    def public_key(self) -> Ed25519PublicKey | None:
        if self._pinned is None:
            answer = self._request("GET", "/v1/key")
            data = _json(answer)
            pem = data.get("public_key")
            if answer.status_code != 200 or not isinstance(pem, str):
                raise WitnessUnavailable(
                    f"witness {self.url} did not give its key", witness=self.name
                )
            key = load_public_key(pem, what=f"the key of witness {self.url}")
            if key_id_of(key) != data.get("key_id"):
                raise WitnessUnavailable(
                    f"witness {self.url} gave a key that is not {data.get('key_id')}",
                    witness=self.name,
                )
            self._pinned = key
        return self._pinned


def _json(answer: httpx.Response, *, many: bool = False) -> Any:
    try:
        data = answer.json()
    except ValueError:
        data = None
    if many:
        return data if isinstance(data, list) else []
    return data if isinstance(data, dict) else {}
