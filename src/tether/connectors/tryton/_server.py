"""A Tryton to run locally: a demo company built once, copied per database, served on loopback.

```python
local = LocalTryton(Path(".tether/tryton"))
local.ensure_template()               # ~40 s the first time, then cached
database = local.create_database()    # a copy of the template: seconds
with local.serve(database) as server: # trytond in its own process
    print(server.url)                 # http://127.0.0.1:PORT/DATABASE/
```

SQLite by default (files under ``state_dir/databases``); PostgreSQL when a
``database_url`` is given (the template is a PostgreSQL database and copies use
``CREATE DATABASE … TEMPLATE``). trytond runs with the offline patch of
:mod:`._patch` and always with ``-d DATABASE`` (without it every login fails with
``KeyError: 'res.user'``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tether.connectors._net import free_port
from tether.connectors.tryton import _build
from tether.connectors.tryton._build import (
    ADMIN_PASSWORD_ENV,
    DEFAULT_ADMIN_PASSWORD,
    MODULES,
)
from tether.errors import ConfigurationError
from tether.private import private_dir, touch_private, write_private

ADMIN_LOGIN = "admin"
BUILD_VERSION = "1"
"""Bump to force new templates; a change to the build script changes the key by itself."""

_DISTRIBUTIONS = ["trytond", *(f"trytond-{m.replace('_', '-')}" for m in MODULES)]


class TrytonServerError(ConfigurationError):
    """The local Tryton could not be built or started; ``log`` names its log file."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message, log)
        self.message = message
        self.log = log

    def __str__(self) -> str:
        tail = _tail(self.log) if self.log else ""
        where = f" (log: {self.log})" if self.log else ""
        return f"{self.message}{where}" + (f"\n{tail}" if tail else "")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


TEMPLATES_ENV = "TETHER_TRYTON_CACHE"
"""Where demo company templates are cached, shared by every state folder."""


def default_template_dir() -> Path:
    """``TETHER_TRYTON_CACHE``, else ``~/.cache/tether/tryton``."""
    return Path(os.environ.get(TEMPLATES_ENV) or "~/.cache/tether/tryton").expanduser()


def template_key() -> str:
    """Short hash of the build script and of trytond's and its modules' versions."""
    parts = [BUILD_VERSION, hashlib.sha256(Path(_build.__file__).read_bytes()).hexdigest()]
    for name in _DISTRIBUTIONS:
        try:
            parts.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise ConfigurationError(
                f"the local Tryton needs {name}: install tether[tryton]"
            ) from None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


@dataclass(kw_only=True)
class TrytonServer:
    """A running trytond process serving one database on loopback."""

    database: str
    """The database it serves."""
    port: int
    """Its loopback port."""
    process: subprocess.Popen[bytes]
    """The trytond process."""
    log: Path
    """Where its output goes."""
    config: Path | None = None
    """Its generated configuration file, removed when it stops."""
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's base URL (the connector's ``url`` setting)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def rpc_url(self) -> str:
        """JSON-RPC endpoint of its database."""
        return f"{self.url}{self.database}/rpc/"

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop trytond: terminate, then kill if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.config is not None:
            self.config.unlink(missing_ok=True)

    def __enter__(self) -> TrytonServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class LocalTryton:
    """Builds the demo template, copies it into fresh databases, and serves them."""

    def __init__(
        self,
        state_dir: Path | str,
        *,
        database_url: str | None = None,
        admin_password: str = DEFAULT_ADMIN_PASSWORD,
        template_dir: Path | str | None = None,
        template_name: str | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        """Databases (SQLite), configuration files and logs live here."""
        self.database_url = _trytond_uri(database_url) if database_url else None
        """PostgreSQL server URL for trytond (no database name), or None for SQLite."""
        self.admin_password = admin_password
        """The password of the ``admin`` user in every database built here."""
        self.template = template_name or f"tether_demo_{template_key()}"
        """Name of the template database: by default keyed by the Tryton versions."""
        self.template_dir = (
            Path(template_dir).expanduser().resolve() if template_dir else self.databases_dir
        )
        """Where the SQLite template lives (a cache shared by several state folders)."""

    # --- files ---------------------------------------------------------------

    @property
    def databases_dir(self) -> Path:
        return self.state_dir / "databases"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def _config_file(self, port: int | None = None) -> Path:
        for folder in (self.state_dir, self.databases_dir, self.template_dir, self.logs_dir):
            private_dir(folder)
        uri = self.database_url or "sqlite://"
        folder = self.databases_dir if port is not None else self.template_dir
        lines = ["[database]", f"uri = {uri}", f"path = {folder}", ""]
        if port is not None:
            lines += ["[web]", f"listen = 127.0.0.1:{port}", ""]
        name = f"trytond-{port}.conf" if port is not None else "trytond-build.conf"
        path = self.state_dir / name
        write_private(path, "\n".join(lines).encode())
        return path

    def _sqlite_file(self, database: str) -> Path:
        folder = self.template_dir if database.startswith(self.template) else self.databases_dir
        return folder / f"{database}.sqlite"

    def _env(self, config: Path) -> dict[str, str]:
        return {
            **os.environ,
            "TRYTOND_CONFIG": str(config),
            ADMIN_PASSWORD_ENV: self.admin_password,
            "PYTHONWARNINGS": "ignore",
        }

    # --- template and copies ---------------------------------------------------

    def database_exists(self, database: str) -> bool:
        if self.database_url is None:
            return self._sqlite_file(database).is_file()
        with self._postgres() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            return row.fetchone() is not None

    def template_exists(self) -> bool:
        return self.database_exists(self.template)

    def ensure_template(self, on_step: Callable[[int, int, str], None] | None = None) -> str:
        """The template's name; builds it first when it does not exist yet."""
        if not self.template_exists():
            self.build_template(on_step=on_step)
        return self.template

    def build_template(self, on_step: Callable[[int, int, str], None] | None = None) -> str:
        """Build (or rebuild) the demo company into the template database."""
        building = f"{self.template}_building_{uuid.uuid4().hex[:6]}"
        config = self._config_file()
        log = self.logs_dir / "build.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-u", "-m", "tether.connectors.tryton._build", building],
                stdout=subprocess.PIPE,
                stderr=out,
                env=self._env(config),
                cwd=self.state_dir,
            )
            try:
                code = _follow_build(process, out, on_step)
            except BaseException:  # interrupted: leave neither a process nor half a database
                process.kill()
                process.wait()
                self.drop_database(building)
                raise
        if code != 0:
            self.drop_database(building)
            raise TrytonServerError(f"building the demo company failed (exit {code})", log)
        if self.database_url is not None:
            self.drop_database(self.template)
        self._rename(building, self.template)  # SQLite: an atomic replace
        self._prune_templates()
        return self.template

    def _prune_templates(self) -> None:
        """Remove SQLite templates built for other Tryton versions (they are never used)."""
        if self.database_url is not None:
            return
        for path in self.template_dir.glob("tether_demo_*.sqlite"):
            name = path.name.removesuffix(".sqlite")
            if name != self.template and "_building_" not in name:
                self.drop_database_file(path)

    @staticmethod
    def drop_database_file(path: Path) -> None:
        """Remove an SQLite database file and its journal files."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    def create_database(self, name: str | None = None) -> str:
        """A fresh database copied from the template (built first if missing)."""
        self.ensure_template()
        name = name or f"tether_{uuid.uuid4().hex[:10]}"
        if self.database_url is None:
            private_dir(self.databases_dir)
            copy = self._sqlite_file(name)
            touch_private(copy)  # the copy keeps this mode: the company's data, its owner's
            shutil.copyfile(self._sqlite_file(self.template), copy)
        else:
            with self._postgres() as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop_database(self, name: str) -> None:
        """Remove a database (no error if it does not exist)."""
        if self.database_url is None:
            self.drop_database_file(self._sqlite_file(name))
            return
        with self._postgres() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _rename(self, old: str, new: str) -> None:
        if self.database_url is None:
            self._sqlite_file(old).replace(self._sqlite_file(new))
            return
        with self._postgres() as conn:
            conn.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')

    @contextmanager
    def _postgres(self) -> Iterator[Any]:
        import psycopg

        if self.database_url is None:  # pragma: no cover - callers check
            raise ConfigurationError("no PostgreSQL URL configured")
        parts = urlsplit(self.database_url)
        url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn

    # --- serving ---------------------------------------------------------------

    def start(
        self, database: str, *, port: int | None = None, timeout_seconds: float = 60.0
    ) -> TrytonServer:
        """Start trytond for ``database`` on loopback; returns once it answers."""
        if not self.database_exists(database):
            raise TrytonServerError(f"database {database!r} does not exist")
        port = port or free_port()
        config = self._config_file(port)
        log = self.logs_dir / f"trytond-{database}-{port}.log"
        log_file = log.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tether.connectors.tryton._launch",
                "-c",
                str(config),
                "-d",
                database,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=self._env(config),
            cwd=self.state_dir,
        )
        server = TrytonServer(
            database=database,
            port=port,
            process=process,
            log=log,
            config=config,
            _log_file=log_file,
        )
        try:
            _wait_until_up(server, timeout_seconds)
        except BaseException:
            server.stop()
            raise
        return server

    @contextmanager
    def serve(self, database: str, *, port: int | None = None) -> Iterator[TrytonServer]:
        """Run trytond for the block, stop it after."""
        server = self.start(database, port=port)
        try:
            yield server
        finally:
            server.stop()


def _follow_build(
    process: subprocess.Popen[bytes],
    out: IO[bytes],
    on_step: Callable[[int, int, str], None] | None,
) -> int:
    """Copy the build's output to its log, report its steps, and wait for its exit code."""
    stdout = process.stdout
    if stdout is None:  # pragma: no cover - stdout=PIPE always gives one
        raise TrytonServerError("no output from the build process")
    with stdout:
        for raw in stdout:
            out.write(raw)
            out.flush()
            line = raw.decode(errors="replace").strip()
            if line.startswith("step ") and on_step is not None:
                counter, _, text = line[5:].partition(" ")
                done, _, total = counter.partition("/")
                on_step(int(done), int(total), text)
    return process.wait()


def _wait_until_up(server: TrytonServer, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    payload = json.dumps({"id": 0, "method": "common.server.version", "params": []})
    with httpx.Client(timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise TrytonServerError(
                    f"trytond exited with code {server.process.returncode}", server.log
                )
            try:
                response = client.post(
                    server.rpc_url, content=payload, headers={"Content-Type": "application/json"}
                )
                if response.status_code in (200, 401):  # it answers: the pool is loaded
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TrytonServerError(
                    f"trytond did not answer on port {server.port} within {timeout_seconds:g}s",
                    server.log,
                )
            time.sleep(0.2)


def _trytond_uri(url: str) -> str:
    """``postgresql+psycopg://u@h:5432/db`` → ``postgresql://u@h:5432/`` (trytond's form)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"the local Tryton's database_url must be a PostgreSQL URL, not {url!r}"
        )
    return urlunsplit(parts._replace(scheme="postgresql", path="/", query=""))


__all__ = [
    "ADMIN_LOGIN",
    "LocalTryton",
    "TrytonServer",
    "TrytonServerError",
    "free_port",
    "template_key",
]
