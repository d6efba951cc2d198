"""The local Tryton on demand: started by the first client that cannot reach it.

```python
service = on_demand(Path(".tether/tryton"), port=8000)
client = TrytonClient(url=service.url, database="demo", username="admin",
                      password="tether-admin",
                      on_unreachable=functools.partial(service.ensure_running, "demo"))
```

With the connector's ``local`` setting, a tether process starts trytond for a
database of a :class:`LocalTryton` state folder the first time it needs it (at most
once per state folder and port in a process, whatever the threads), and stops it
when the process exits. A Tryton that already serves the database on that port
(started by another tether process, or by ``tether tryton serve``) is used as it is.
"""

from __future__ import annotations

import atexit
import socket
import threading
from pathlib import Path

import httpx

from tether.connectors.tryton._client import TrytonError
from tether.connectors.tryton._server import LocalTryton, TrytonServer, TrytonServerError
from tether.errors import ConfigurationError

_PROBE_TIMEOUT_SECONDS = 2.0


class OnDemandTryton:
    """Starts trytond for one state folder on one loopback port, once, and stops it at exit."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = state_dir
        """The :class:`LocalTryton` state folder whose databases are served."""
        self.port = port
        """The loopback port trytond listens on."""
        self._server: TrytonServer | None = None
        self._lock = threading.Lock()
        self._stop_registered = False

    @property
    def url(self) -> str:
        """The server's base URL (the connector's ``url``)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def server(self) -> TrytonServer | None:
        """The trytond this process started, while it runs (None if another process serves)."""
        return self._server

    def ensure_running(self, database: str) -> None:
        """Make the port serve ``database``: use a Tryton already there, else start one."""
        with self._lock:
            if serves(self.port, database):
                return  # started a moment ago, by another thread or another process
            local = self._local_tryton()
            if not local.database_exists(database):
                raise TrytonError(
                    f"the local Tryton has no database {database!r} in {local.databases_dir}: "
                    "run `tether demo`, or `tether tryton serve --keep --state "
                    f"{self.state_dir}` and name the database it made in the database setting"
                )
            if _listening(self.port):
                raise TrytonError(
                    f"cannot start the local Tryton on port {self.port}: something else "
                    f"listens there and does not serve database {database!r}; stop it or "
                    "set another local.port"
                )
            self._start(local, database)

    def _start(self, local: LocalTryton, database: str) -> None:
        if self._server is not None:  # ours exited: clean up before starting again
            self._server.stop()
            self._server = None
        try:
            server = local.start(database, port=self.port)
        except TrytonServerError as exc:
            if serves(self.port, database):
                return  # another process won the race for the port: use its server
            where = f" (log: {exc.log})" if exc.log else ""
            raise TrytonError(
                f"could not start the local Tryton for database {database!r} on port "
                f"{self.port}: {exc.message}{where}"
            ) from None
        self._server = server
        if not self._stop_registered:
            atexit.register(self.stop)
            self._stop_registered = True

    def _local_tryton(self) -> LocalTryton:
        try:
            return LocalTryton(self.state_dir)
        except ConfigurationError as exc:  # trytond is not installed
            raise TrytonError(f"cannot start the local Tryton: {exc}") from None

    def stop(self) -> None:
        """Stop the trytond this process started, if any (registered with :mod:`atexit`)."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()


def serves(port: int, database: str) -> bool:
    """Whether a Tryton on loopback ``port`` serves ``database``.

    Asks to log in without a password: Tryton answers "password needed" for a database
    it has (no failed attempt is counted) and HTTP 404 for one it has not."""
    url = f"http://127.0.0.1:{port}/{database}/rpc/"
    payload = {"id": 0, "method": "common.db.login", "params": ["tether-probe", {}, "en"]}
    try:
        with httpx.Client(timeout=_PROBE_TIMEOUT_SECONDS) as client:
            response = client.post(url, json=payload)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(_PROBE_TIMEOUT_SECONDS)
        return probe.connect_ex(("127.0.0.1", port)) == 0


_SERVICES: dict[tuple[Path, int], OnDemandTryton] = {}
_SERVICES_LOCK = threading.Lock()


def on_demand(state_dir: Path | str, port: int) -> OnDemandTryton:
    """This process's one :class:`OnDemandTryton` for a state folder and port."""
    key = (Path(state_dir).expanduser().resolve(), port)
    with _SERVICES_LOCK:
        service = _SERVICES.get(key)
        if service is None:
            service = _SERVICES[key] = OnDemandTryton(*key)
        return service


__all__ = ["OnDemandTryton", "on_demand", "serves"]
