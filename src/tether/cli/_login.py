"""``tether login``, ``tether logout`` and ``tether tokens``: the CLI's own login.

``tether login`` exchanges a password (or a single sign-on in a browser) for an API
token of the console and keeps it in a file only its user can read (0600, in a
0700 folder): ``TETHER_CREDENTIALS``, else ``$XDG_CONFIG_HOME/tether/credentials.json``
(``~/.config/...``). The CLI's decision commands then act through the console's API
as that user; a file others can read is refused, never used.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tether.cli._common import ConfigOption, echo_json, err, out, styled
from tether.config import read_config_file

if TYPE_CHECKING:  # imported where the console is called: deciding locally needs no HTTP
    import httpx

CREDENTIALS_ENV = "TETHER_CREDENTIALS"
CONSOLE_ENV = "TETHER_CONSOLE"

app = typer.Typer(
    help="List and revoke your console sessions and API tokens.", no_args_is_help=True
)


@dataclass(frozen=True)
class Login:
    """What ``tether login`` keeps: the console, the token, whose it is."""

    console: str
    token: str
    user: str
    token_id: str
    method: str
    console_id: str


class NotLoggedIn(Exception):
    pass


def credentials_path() -> Path:
    named = os.environ.get(CREDENTIALS_ENV)
    if named:
        return Path(named)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tether" / "credentials.json"


def save_login(login: Login) -> Path:
    """Write the login readable by its owner only (0600 in a 0700 folder)."""
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(login), handle, indent=2)
    path.chmod(0o600)
    return path


def stored_login() -> Login | None:
    """The login of ``tether login``, if there is one; refused if others can read it."""
    path = credentials_path()
    if not path.is_file():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise NotLoggedIn(
            f"{path} can be read by others (mode {mode:o}); it is not used. Remove it and "
            "log in again: `tether login`"
        )
    try:
        return Login(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise NotLoggedIn(f"{path} is not a tether login ({exc}); log in again") from None


def forget_login() -> bool:
    path = credentials_path()
    if path.is_file():
        path.unlink()
        return True
    return False


class Console:
    """The console's JSON API, as the logged-in user."""

    def __init__(self, login: Login, *, timeout: float = 130.0) -> None:
        import httpx

        self.login = login
        self._http = httpx.Client(
            base_url=login.console.rstrip("/"),
            headers={"Authorization": f"Bearer {login.token}"},
            timeout=timeout,
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The answer's JSON; :class:`ApiRefused` with the console's reason if refused."""
        import httpx

        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ApiRefused(
                0, "unreachable", f"the console at {self.login.console}: {exc}"
            ) from None
        if response.status_code >= 400:
            try:
                data = response.json()
                reason, message = str(data.get("error")), str(data.get("message"))
            except ValueError:
                reason, message = "refused", response.text[:200]
            raise ApiRefused(response.status_code, reason, message)
        return response.json()

    def close(self) -> None:
        self._http.close()


class ApiRefused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(status, reason, message)
        self.status = status
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        hint = "; log in again: `tether login`" if self.status == 401 else ""
        return f"{self.message} ({self.reason}){hint}"


def _console_url(console: str | None, config: Path | None) -> str:
    if console:
        return console
    if os.environ.get(CONSOLE_ENV):
        return os.environ[CONSOLE_ENV]
    try:
        url = read_config_file(config).web.url
    except Exception:  # no configuration here: the URL must be given
        url = None
    if not url:
        err.print(styled("red", "error", "give --console URL (or web.url in tether.yaml)"))
        raise typer.Exit(2)
    return url


def login(
    console: Annotated[
        str | None, typer.Option(help="The console's URL (default: TETHER_CONSOLE, web.url).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Your user name (password login).")] = None,
    sso: Annotated[bool, typer.Option("--sso", help="Sign on in a browser instead.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: ConfigOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for a single sign-on.")] = 300.0,
) -> None:
    """Log in to the console; the CLI's decision commands then act as you, through it."""
    import httpx

    url = _console_url(console, config).rstrip("/")
    label = f"{socket.gethostname()} (tether login)"
    try:
        with httpx.Client(base_url=url, timeout=30.0) as http:
            data = (
                _sso_login(http, label, wait)
                if sso
                else _password_login(http, user, password_stdin, label)
            )
    except ApiRefused as refused:
        err.print(styled("red", "refused", str(refused)))
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        err.print(styled("red", "error", f"the console at {url} cannot be reached: {exc}"))
        raise typer.Exit(1) from None
    made = Login(
        console=url,
        token=data["token"],
        user=data["user"],
        token_id=data["token_id"],
        method=data["method"],
        console_id=data["console_id"],
    )
    path = save_login(made)
    out.print(
        f"logged in to {url} as {made.user} ({', '.join(data['roles'])}; {made.method}); "
        f"token {made.token_id} kept in {path} (readable by you only)",
        highlight=False,
    )


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = {"error": "refused", "message": response.text[:200]}
    if response.status_code >= 400:
        raise ApiRefused(response.status_code, str(data.get("error")), str(data.get("message")))
    found: dict[str, Any] = data
    return found


def _password_login(
    http: httpx.Client, user: str | None, password_stdin: bool, label: str
) -> dict[str, Any]:
    name = user or input("user: ").strip()
    password = (
        typer.get_text_stream("stdin").readline().rstrip("\n")
        if password_stdin
        else (getpass.getpass("password: "))
    )
    body = {"username": name, "password": password, "client": "cli", "name": label}
    return _answer(http.post("/api/login", json=body))


def _sso_login(http: httpx.Client, label: str, wait: float) -> dict[str, Any]:
    poll_secret = secrets.token_urlsafe(32)
    started = _answer(http.post("/api/login/sso", json={"poll_secret": poll_secret}))
    out.print("Open this address in a browser and sign on:", highlight=False)
    out.print(started["url"], highlight=False, soft_wrap=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        polled = _answer(
            http.post(
                "/api/login/sso/poll",
                json={"state": started["state"], "poll_secret": poll_secret, "name": label},
            )
        )
        if polled["status"] == "done":
            return polled
        time.sleep(float(started.get("poll_every_seconds", 1)))
    raise ApiRefused(0, "sso_timeout", f"no sign-on within {wait:g} s")


def logout() -> None:
    """End your login: the token is revoked at the console and its file removed."""
    try:
        found = stored_login()
    except NotLoggedIn:
        found = None
    if found is not None:
        console = Console(found)
        try:
            console.call("POST", "/api/logout")
        except ApiRefused as refused:
            err.print(styled("yellow", "note", f"the console did not end the token: {refused}"))
        finally:
            console.close()
    removed = forget_login()
    out.print("logged out" if removed else "not logged in", highlight=False)


def _console_or_exit() -> Console:
    try:
        found = stored_login()
    except NotLoggedIn as exc:
        err.print(styled("red", "error", str(exc)))
        raise typer.Exit(2) from None
    if found is None:
        err.print(styled("red", "error", "not logged in: `tether login --console URL`"))
        raise typer.Exit(2)
    return Console(found)


@app.command("list")
def list_(
    every: Annotated[bool, typer.Option("--all", help="Everyone's (operators).")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your live sessions and tokens at the console."""
    console = _console_or_exit()
    try:
        items = console.call("GET", f"/api/tokens?every={'true' if every else 'false'}")
    except ApiRefused as refused:
        err.print(styled("red", "refused", str(refused)))
        raise typer.Exit(1) from None
    finally:
        console.close()
    if as_json:
        echo_json(items)
        return
    table = Table("id", "kind", "user", "how", "from", "name", "expires")
    for item in items:
        table.add_row(
            item["id"] + (" (this)" if item["id"] == console.login.token_id else ""),
            item["kind"],
            item["account"],
            item["method"],
            item["client"],
            item["name"] or "-",
            item["expires_at"][:16],
        )
    out.print(table)


@app.command()
def revoke(credential_id: Annotated[str, typer.Argument(help="The session or token id.")]) -> None:
    """Revoke a session or token (yours; anyone's for an operator): it ends at once."""
    _call_or_exit("DELETE", f"/api/tokens/{credential_id}")
    out.print(f"revoked {credential_id}", highlight=False)


def unlock(
    account: Annotated[str | None, typer.Option(help="The account to unlock.")] = None,
    client: Annotated[str | None, typer.Option(help="The client address to unlock.")] = None,
) -> None:
    """Clear an account's or client's failed logins and lock-out (operators; recorded)."""
    answer = _call_or_exit("POST", "/api/lockouts/clear", {"account": account, "client": client})
    state = "cleared" if answer["cleared"] else "had no failures"
    out.print(f"{answer['key']} {state}", highlight=False)


def _call_or_exit(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    console = _console_or_exit()
    try:
        return console.call(method, path, body)
    except ApiRefused as refused:
        err.print(styled("red", "refused", str(refused)))
        raise typer.Exit(1) from None
    finally:
        console.close()
