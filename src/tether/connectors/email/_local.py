"""The local outbox on demand: started by the first send that finds nothing listening.

```python
service = on_demand(Path(".tether/outbox"), port=8025)
service.ensure_running()   # an Outbox on 127.0.0.1:8025 in this process, unless one runs
```

With the connector's ``outbox`` setting, a tether process that sends mail and finds
no server at ``127.0.0.1:PORT`` starts :class:`Outbox` there itself (at most once per
Maildir and port in a process, whatever the threads) and stops it when the process
exits. An outbox another process already serves on that port is used as it is.
"""

from __future__ import annotations

import atexit
import errno
import threading
from pathlib import Path

from tether.connectors.email._outbox import Outbox

_HOST = "127.0.0.1"


class OnDemandOutbox:
    """Runs one :class:`Outbox` on a loopback port for this process, from first need to exit."""

    def __init__(self, maildir: Path, port: int) -> None:
        self.maildir = maildir
        """Where the outbox keeps the mail it receives."""
        self.port = port
        """Its port on 127.0.0.1."""
        self._outbox: Outbox | None = None
        self._lock = threading.Lock()
        self._stop_registered = False

    @property
    def outbox(self) -> Outbox | None:
        """The outbox this process started, while it runs (None if another process serves)."""
        return self._outbox

    def ensure_running(self) -> None:
        """Start the outbox here unless it runs already (here or in another process).

        Raises :class:`OSError` when it cannot listen for another reason."""
        with self._lock:
            if self._outbox is not None:
                return
            try:
                outbox = Outbox(self.maildir, host=_HOST, port=self.port).start()
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return  # another process serves the port now: the retry will tell
                raise
            self._outbox = outbox
            if not self._stop_registered:
                atexit.register(self.stop)
                self._stop_registered = True

    def stop(self) -> None:
        """Stop the outbox this process started, if any (registered with :mod:`atexit`)."""
        with self._lock:
            outbox, self._outbox = self._outbox, None
        if outbox is not None:
            outbox.stop()


_SERVICES: dict[tuple[Path, int], OnDemandOutbox] = {}
_SERVICES_LOCK = threading.Lock()


def on_demand(maildir: Path | str, port: int) -> OnDemandOutbox:
    """This process's one :class:`OnDemandOutbox` for a Maildir and port."""
    key = (Path(maildir).expanduser().resolve(), port)
    with _SERVICES_LOCK:
        service = _SERVICES.get(key)
        if service is None:
            service = _SERVICES[key] = OnDemandOutbox(*key)
        return service


__all__ = ["OnDemandOutbox", "on_demand"]
