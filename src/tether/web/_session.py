"""Sessions and CSRF: who is logged in, and proof that a form came from the console.

The session cookie is signed (Starlette's ``SessionMiddleware``: HttpOnly,
SameSite=Lax, Secure when configured). It holds the session's secret, whose record
in the database says whose session it is and whether it still lives (see
``_credentials.py``), and a CSRF token that every form carries back; both change at
each login.
"""

from __future__ import annotations

import hmac
import secrets
import time
from pathlib import Path

from starlette.requests import Request

from tether.web._errors import Refused

CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "tether_session"


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: object) -> None:
    """Refuse (403) a form whose CSRF token is missing or not this session's."""
    expected = request.session.get("csrf")
    if not isinstance(submitted, str) or not submitted:
        raise Refused(403, "csrf_missing", "the form carries no CSRF token; reload the page")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, submitted):
        raise Refused(
            403,
            "csrf_invalid",
            "the CSRF token of the form does not match this session; reload the page",
        )


def log_in(request: Request, session: str) -> None:
    """Start a fresh session (its secret; a new CSRF token: no session fixation)."""
    request.session.clear()
    request.session["sid"] = session
    request.session["since"] = int(time.time())
    request.session["csrf"] = secrets.token_urlsafe(32)


def log_out(request: Request) -> None:
    request.session.clear()


def session_secret_of(request: Request) -> str | None:
    """The secret of the session this cookie names (checked against the database)."""
    secret = request.session.get("sid")
    return secret if isinstance(secret, str) and secret else None


def flash(request: Request, message: str) -> None:
    """A message for the next page this session sees."""
    messages = list(request.session.get("flash", []))
    request.session["flash"] = [*messages, message][-5:]


def take_flashes(request: Request) -> list[str]:
    messages = request.session.pop("flash", [])
    return [str(message) for message in messages] if isinstance(messages, list) else []


def session_secret(path: Path) -> str:
    """The key in ``path``; made (readable by the owner only) if there is none yet."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret
