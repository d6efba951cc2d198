"""Local services on demand: a process using the Tryton connector with ``local`` or the
email connector with ``outbox`` starts the local server itself when nothing answers,
once per process, and stops it at exit; a server another process runs is just used."""

from __future__ import annotations

import atexit
import importlib.util
import os
import smtplib
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tether.connectors.email import Outbox, free_port, list_outbox, outbox_service
from tether.connectors.email import toolset as email_toolset
from tether.connectors.tryton import LocalTryton, client_from_settings, local_service
from tether.connectors.tryton import toolset as tryton_toolset
from tether.connectors.tryton._build import DEFAULT_ADMIN_PASSWORD
from tether.connectors.tryton._local import serves
from tether.errors import ConfigurationError, ToolCallError
from tether.tools import ToolContext, Toolset

PASSWORD_ENV = "TETHER_TEST_TRYTON_PASSWORD"
DATABASE = "demo"
MESSAGE: dict[str, Any] = {"to": ["bob@customer.example"], "subject": "Hello", "body": "Hi."}


@pytest.fixture
def at_exit(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """What is registered with atexit during the test (still registered for real)."""
    registered: list[Callable[..., Any]] = []
    original = atexit.register

    def register(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        registered.append(function)
        return original(function, *args, **kwargs)

    monkeypatch.setattr(atexit, "register", register)
    return registered


# --- Tryton -------------------------------------------------------------------------


def _cache_dir() -> Path:
    configured = os.environ.get("TETHER_TRYTON_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "tether" / "tryton"


@pytest.fixture
def tryton_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A LocalTryton state folder (``tmp_path/tryton``) holding the demo database ``demo``."""
    if importlib.util.find_spec("trytond") is None:
        pytest.skip("the local Tryton needs trytond: pip install 'tether[tryton]'")
    monkeypatch.setenv(PASSWORD_ENV, DEFAULT_ADMIN_PASSWORD)
    state = tmp_path / "tryton"
    LocalTryton(state, template_dir=_cache_dir()).create_database(DATABASE)
    return state


def tryton_settings(tmp_path: Path, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "base_dir": str(tmp_path),
        "local": {"state": "tryton", "port": port},
        "database": DATABASE,
        "password_env": PASSWORD_ENV,
        **extra,
    }


def find_parties(tools: Toolset) -> Any:
    item = tools.get("crm.find_parties")
    return item.function(**item.validate_args({"query": "Acme", "limit": 5}))


@pytest.mark.slow
def test_the_local_tryton_starts_on_first_need_once(
    tryton_state: Path, tmp_path: Path, at_exit: list[Callable[..., Any]]
) -> None:
    port = free_port()
    settings = tryton_settings(tmp_path, port)
    service = local_service(settings)
    assert service is not None and service.url == f"http://127.0.0.1:{port}/"
    assert not serves(port, DATABASE) and service.server is None
    try:
        assert find_parties(tryton_toolset(settings))  # nothing ran: the call started it
        server = service.server
        assert server is not None and server.process.poll() is None
        assert server.port == port and server.database == DATABASE
        assert service.stop in at_exit

        again = tryton_toolset(settings)  # another toolset of this process: same server
        assert find_parties(again)
        assert service.server is server and local_service(settings) is service
        assert at_exit.count(service.stop) == 1
    finally:
        service.stop()
    assert server.process.poll() is not None and not serves(port, DATABASE)
    assert service.server is None


@pytest.mark.slow
def test_a_tryton_already_serving_the_database_is_used(tryton_state: Path, tmp_path: Path) -> None:
    port = free_port()
    settings = tryton_settings(tmp_path, port, url=f"http://localhost:{port}/")
    with LocalTryton(tryton_state).serve(DATABASE, port=port) as other:  # "another process"
        assert find_parties(tryton_toolset(settings))
        service = local_service(settings)
        assert service is not None and service.server is None  # nothing started here
        assert other.process.poll() is None


@pytest.mark.slow
def test_a_missing_database_says_how_to_make_one(tryton_state: Path, tmp_path: Path) -> None:
    tools = tryton_toolset({**tryton_settings(tmp_path, free_port()), "database": "nope"})
    with pytest.raises(ToolCallError, match=r"no database 'nope' in .*tryton.*`tether demo`"):
        find_parties(tools)


def test_a_port_taken_by_another_server_is_named(tryton_state: Path, tmp_path: Path) -> None:
    class NotTryton(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), NotTryton) as http:
        thread = threading.Thread(target=http.serve_forever, daemon=True)
        thread.start()
        try:
            tools = tryton_toolset(tryton_settings(tmp_path, http.server_address[1]))
            with pytest.raises(ToolCallError, match="something else listens there"):
                find_parties(tools)
        finally:
            http.shutdown()


def test_local_tryton_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, DEFAULT_ADMIN_PASSWORD)
    local = {"state": ".tether/tryton", "port": 8123}
    client = client_from_settings({"local": local, "database": "d", "password_env": PASSWORD_ENV})
    assert client.rpc_url == "http://127.0.0.1:8123/d/rpc/" and client.on_unreachable
    plain = client_from_settings(
        {"url": "http://127.0.0.1:1/", "database": "d", "password_env": PASSWORD_ENV}
    )
    assert plain.on_unreachable is None
    with pytest.raises(ConfigurationError, match=r"give url .* or local"):
        client_from_settings({"database": "d"})
    with pytest.raises(ConfigurationError, match=r"url must be http://127\.0\.0\.1:8123/"):
        client_from_settings({"local": local, "url": "http://erp.acme.example/", "database": "d"})
    with pytest.raises(ConfigurationError, match=r"local\.state"):
        client_from_settings({"local": {"port": 8000}, "database": "d"})


# --- email ----------------------------------------------------------------------------


def send(tools: Toolset, key: str) -> Any:
    item = tools.get("email.send")
    run_id, _, call_id = key.partition(":")
    ctx = ToolContext(run_id=run_id, call_id=call_id, idempotency_key=key)
    return item.function(ctx, **item.validate_args(MESSAGE))


def email_settings(tmp_path: Path, port: int, **extra: Any) -> dict[str, Any]:
    return {"base_dir": str(tmp_path), "outbox": "outbox", "smtp_port": port, **extra}


def refused(port: int) -> bool:
    try:
        smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
    except ConnectionRefusedError:
        return True
    return False


def test_the_outbox_starts_on_first_send_once(
    tmp_path: Path, at_exit: list[Callable[..., Any]]
) -> None:
    port = free_port()
    settings = email_settings(tmp_path, port)
    service = outbox_service(settings)
    assert service is not None and service.outbox is None
    try:
        assert not send(email_toolset(settings), "run-1:call-1").already_sent
        outbox = service.outbox
        assert outbox is not None and outbox.port == port
        assert service.stop in at_exit
        [kept] = list_outbox(tmp_path / "outbox")
        assert kept.to == "bob@customer.example" and kept.subject == "Hello"

        assert not send(email_toolset(settings), "run-1:call-2").already_sent  # reused
        assert service.outbox is outbox and outbox_service(settings) is service
        assert len(list_outbox(tmp_path / "outbox")) == 2
    finally:
        service.stop()
    assert service.outbox is None and refused(port)


def test_concurrent_first_sends_start_one_outbox(tmp_path: Path) -> None:
    port = free_port()
    settings = email_settings(tmp_path, port, smtp_host="localhost")
    tools = email_toolset(settings)
    service = outbox_service(settings)
    assert service is not None
    errors: list[BaseException] = []

    def go(number: int) -> None:
        try:
            send(tools, f"run-1:call-{number}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert len(list_outbox(tmp_path / "outbox")) == 4
    finally:
        service.stop()


def test_an_outbox_already_listening_is_used(tmp_path: Path) -> None:
    port = free_port()
    settings = email_settings(tmp_path, port)
    with Outbox(tmp_path / "elsewhere", port=port) as other:  # "another process"
        send(email_toolset(settings), "run-1:call-1")
        assert len(other.messages()) == 1
    service = outbox_service(settings)
    assert service is not None and service.outbox is None
    assert not (tmp_path / "outbox").exists()


def test_an_outbox_that_cannot_start_says_so(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("a file, not a folder")
    tools = email_toolset(email_settings(tmp_path, free_port()))
    with pytest.raises(ToolCallError, match=r"local outbox .* could not be started.*nothing sent"):
        send(tools, "run-1:call-1")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"smtp_host": "smtp.acme.example"}, r"outbox .* needs smtp_host 127\.0\.0\.1"),
        ({"security": "starttls"}, "outbox .* plain SMTP: set security: none"),
        ({"username": "desk"}, "outbox .* takes no login"),
        ({"outbox": ""}, "outbox"),
    ],
)
def test_the_outbox_needs_local_plain_smtp(
    tmp_path: Path, extra: dict[str, Any], error: str
) -> None:
    with pytest.raises(ConfigurationError, match=error):
        email_toolset(email_settings(tmp_path, free_port(), **extra))
