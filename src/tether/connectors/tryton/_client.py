"""A small JSON-RPC client for Tryton over plain HTTP, with session login.

```python
client = TrytonClient(url="http://127.0.0.1:8000/", database="demo",
                      username="admin", password="...")
parties = client.call("model.party.party.search_read", [[], 0, 5, None, ["name"]])
```

Each call opens its own short-lived HTTP connection (so nothing is left open when a
toolset is dropped) and reuses one login session; a session the server has expired
is renewed once, transparently. Every failure is a :class:`TrytonError` with a
message fit for the model: :class:`TrytonUnreachable`, :class:`TrytonTimeout`,
:class:`TrytonLoginFailed`, :class:`TrytonRecordNotFound`, :class:`TrytonFault`.

    TrytonError
    ├── TrytonUnreachable     nothing answers at the URL
    ├── TrytonTimeout         the server did not answer in time
    ├── TrytonLoginFailed     the username or password was refused
    ├── TrytonRecordNotFound  no record with that id
    └── TrytonFault           the server refused the call (its own message)
"""

from __future__ import annotations

import base64
import datetime as _dt
import itertools
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from tether.errors import TetherError


class TrytonError(TetherError):
    """A call to Tryton failed; ``message`` is safe to show the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TrytonUnreachable(TrytonError):
    """Nothing answers at the configured URL."""


class TrytonTimeout(TrytonError):
    """The server did not answer within the timeout."""


class TrytonLoginFailed(TrytonError):
    """The server refused the username or password."""


class TrytonFault(TrytonError):
    """The server refused the call; the message is Tryton's own."""


class TrytonRecordNotFound(TrytonError):
    """No record of ``model`` has id ``record_id``."""

    def __init__(self, model: str, record_id: int) -> None:
        super().__init__(f"{model} {record_id} does not exist")
        self.args = (model, record_id)
        self.model = model
        self.record_id = record_id


class TrytonClient:
    """JSON-RPC to one Tryton database as one user."""

    def __init__(
        self,
        *,
        url: str,
        database: str,
        username: str,
        password: str,
        timeout_seconds: float = 30.0,
        on_unreachable: Callable[[], None] | None = None,
    ) -> None:
        self.rpc_url = url.rstrip("/") + f"/{database}/rpc/"
        """The database's JSON-RPC endpoint."""
        self.database = database
        self.username = username
        self._password = password
        self.timeout_seconds = timeout_seconds
        """How long one HTTP request may take."""
        self.on_unreachable = on_unreachable
        """Called when a login finds nothing at the URL (e.g. to start a local
        Tryton); the login is then tried once more."""
        self._session: str | None = None
        self._context: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- transport ---------------------------------------------------------------

    def _post(self, method: str, params: list[Any], session: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if session is not None:
            headers["Authorization"] = f"Session {session}"
        payload = {"id": next(self._ids), "method": method, "params": _to_json(params)}
        try:
            with httpx.Client(timeout=self.timeout_seconds) as http:
                return http.post(self.rpc_url, json=payload, headers=headers)
        except httpx.TimeoutException:
            raise TrytonTimeout(
                f"Tryton at {self.rpc_url} did not answer within {self.timeout_seconds:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise TrytonUnreachable(
                f"cannot reach Tryton at {self.rpc_url}: {type(exc).__name__}"
            ) from None

    def _result(self, response: httpx.Response, method: str) -> Any:
        if response.status_code == 404:
            raise TrytonUnreachable(
                f"Tryton at {self.rpc_url} has no database {self.database!r} (HTTP 404)"
            )
        if response.status_code == 429:
            raise TrytonLoginFailed("Tryton refuses logins for now: too many failed attempts")
        if response.status_code != 200:
            raise TrytonFault(f"Tryton answered HTTP {response.status_code} to {method}")
        try:
            body = response.json()
        except ValueError:
            raise TrytonFault(f"Tryton sent a response that is not JSON to {method}") from None
        error = body.get("error")
        if error is not None:
            raise TrytonFault(_describe_error(error))
        return body.get("result")

    # --- session -------------------------------------------------------------------

    def login(self) -> None:
        """Log in (again): a new session and the user's context (company, language)."""
        response = self._post(
            "common.db.login", [self.username, {"password": self._password}, "en"], None
        )
        if response.status_code in (401, 403):
            raise TrytonLoginFailed(
                f"Tryton refused the login of {self.username!r} on database {self.database!r}"
            )
        user_id, token, *_ = self._result(response, "common.db.login")
        raw = f"{self.username}:{user_id}:{token}".encode()
        session = base64.b64encode(raw).decode()
        context = self._result(
            self._post("model.res.user.get_preferences", [True, {}], session),
            "model.res.user.get_preferences",
        )
        self._session, self._context = session, dict(context or {})

    def _login_or_start(self) -> None:
        try:
            self.login()
        except TrytonUnreachable:
            if self.on_unreachable is None:
                raise
            self.on_unreachable()
            self.login()

    def _current_session(self) -> str:
        with self._lock:
            if self._session is None:
                self._login_or_start()
            if self._session is None:  # pragma: no cover - login sets it or raises
                raise TrytonLoginFailed("no session")
            return self._session

    def call(self, method: str, params: list[Any], *, with_context: bool = True) -> Any:
        """Call ``method`` (e.g. ``model.party.party.read``); the user's context is appended."""
        session = self._current_session()
        full = [*params, self._context] if with_context else params
        response = self._post(method, full, session)
        if response.status_code in (401, 403):  # the session expired: log in once more
            with self._lock:
                if self._session == session:
                    self._session = None
            session = self._current_session()
            full = [*params, self._context] if with_context else params
            response = self._post(method, full, session)
        return self._result(response, method)

    def expire_session(self) -> None:
        """Forget the session as if the server had expired it (the next call logs in again)."""
        with self._lock:
            self._session = None

    # --- model helpers ----------------------------------------------------------------

    def search_read(
        self,
        model: str,
        domain: list[Any],
        fields: list[str],
        *,
        limit: int | None = None,
        order: list[tuple[str, str]] | None = None,
    ) -> list[dict[str, Any]]:
        result = self.call(
            f"model.{model}.search_read",
            [domain, 0, limit, [list(o) for o in order] if order else None, fields],
        )
        return [_from_json(row) for row in result]

    def read_one(self, model: str, record_id: int, fields: list[str]) -> dict[str, Any]:
        """The record, or :class:`TrytonRecordNotFound`."""
        rows = self.search_read(model, [("id", "=", record_id)], fields, limit=1)
        if not rows:
            raise TrytonRecordNotFound(model, record_id)
        return rows[0]

    def create(self, model: str, values: dict[str, Any]) -> int:
        ids = self.call(f"model.{model}.create", [[values]])
        return int(ids[0])

    def write(self, model: str, ids: list[int], values: dict[str, Any]) -> None:
        self.call(f"model.{model}.write", [ids, values])

    def button(self, model: str, name: str, ids: list[int]) -> Any:
        """Press a workflow button (``quote``, ``confirm``, ``post``) on records."""
        return self.call(f"model.{model}.{name}", [ids])

    def run_wizard(
        self, name: str, model: str, ids: list[int], state: str, data: dict[str, Any]
    ) -> Any:
        """Run a wizard in one step: create it, execute ``state`` with ``data``, delete it."""
        session_id, _start, _end = self.call(f"wizard.{name}.create", [])
        context = {**self._context, "active_model": model, "active_id": ids[0], "active_ids": ids}
        try:
            return self.call(
                f"wizard.{name}.execute", [session_id, data, state, context], with_context=False
            )
        finally:
            self.call(f"wizard.{name}.delete", [session_id])


def _describe_error(error: Any) -> str:
    if isinstance(error, list) and error:
        kind = str(error[0])
        details = error[1] if len(error) > 1 else None
        if isinstance(details, list) and details and isinstance(details[0], str):
            text = " ".join(part for part in details[:2] if isinstance(part, str) and part)
            return f"Tryton refused the call ({kind}): {text}"
        if isinstance(details, str):
            return f"Tryton refused the call ({kind}): {details}"
        return f"Tryton refused the call ({kind})"
    return f"Tryton refused the call: {error}"


def _to_json(value: Any) -> Any:
    """Tryton's JSON encoding of decimals and dates (``__class__`` objects)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, _dt.datetime):
        return {
            "__class__": "datetime",
            **{k: getattr(value, k) for k in ("year", "month", "day", "hour", "minute", "second")},
            "microsecond": value.microsecond,
        }
    if isinstance(value, _dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("__class__")
        if kind == "Decimal":
            return Decimal(value["decimal"])
        if kind == "date":
            return _dt.date(value["year"], value["month"], value["day"])
        if kind == "datetime":
            return _dt.datetime(
                value["year"],
                value["month"],
                value["day"],
                value.get("hour", 0),
                value.get("minute", 0),
                value.get("second", 0),
                value.get("microsecond", 0),
            )
        if kind == "bytes":
            return "<binary>"
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


__all__ = [
    "TrytonClient",
    "TrytonError",
    "TrytonFault",
    "TrytonLoginFailed",
    "TrytonRecordNotFound",
    "TrytonTimeout",
    "TrytonUnreachable",
]
