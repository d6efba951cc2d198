"""Sessions end when they should: logout, a password change and a role removal end a
user's sessions at once; sessions have an absolute maximum age; API tokens are listed
and revoked; a token of another console, a forged one, an expired one are refused."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORDS, csrf_of, log_in, make_runtime, web_settings
from tether.audit import StoredEvent
from tether.runtime import Runtime
from tether.web import create_app, reload_users


class Clock:
    def __init__(self) -> None:
        self.now = _dt.datetime(2026, 12, 1, 9, 0, tzinfo=_dt.UTC)

    def __call__(self) -> _dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def app(runtime: Runtime, evals_dir: Path, clock: Clock) -> FastAPI:
    return create_app(
        runtime, web_settings(), session_secret="s" * 48, evals_dir=evals_dir, clock=clock
    )


@pytest.fixture
def other(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as made:
        yield made


def events(runtime: Runtime, kind: str) -> list[StoredEvent]:
    return [stored for stored in runtime.audit.events() if stored.event.type == kind]


def api_login(client: TestClient, name: str, password: str | None = None) -> str:
    response = client.post(
        "/api/login", json={"username": name, "password": password or PASSWORDS[name]}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def test_logout_ends_the_session_on_the_server(client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, "vic")
    cookie = client.cookies.get("tether_session")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    # The old cookie, replayed as it was, no longer works: the session ended server-side.
    with TestClient(client.app, follow_redirects=False) as thief:
        thief.cookies.set("tether_session", str(cookie))
        replay = thief.get("/")
        assert replay.status_code == 401 and "logged out" in replay.text
    (ended, *_) = [e for e in events(runtime, "credential.ended") if e.event.actor]
    assert ended.event.details and ended.event.details["why"] == "logged out"


def test_a_password_change_ends_every_session_and_token(
    client: TestClient, other: TestClient, runtime: Runtime
) -> None:
    csrf = log_in(client, "frank")
    log_in(other, "frank")
    token = api_login(client.__class__(client.app), "frank")
    new = "frank-new-password-2026"
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORDS["frank"],
            "new_password": new,
            "again": new,
        },
    )
    assert changed.status_code == 303
    assert other.get("/").status_code == 401  # the other browser's session ended at once
    refused = other.get("/api/approvals", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json()["error"] == "credential_ended"
    # The old password is gone; the new one works.
    page = other.get("/login")
    old = other.post(
        "/login",
        data={
            "username": "frank",
            "password": PASSWORDS["frank"],
            "csrf_token": csrf_of(page.text),
        },
    )
    assert old.status_code == 401
    page = other.get("/login")
    fresh = other.post(
        "/login", data={"username": "frank", "password": new, "csrf_token": csrf_of(page.text)}
    )
    assert fresh.status_code == 303
    (recorded,) = events(runtime, "password.changed")
    assert recorded.event.details == {"account": "frank", "ended": 3}
    assert new not in str([stored.event for stored in runtime.audit.events()])


def test_removing_a_role_ends_the_sessions_that_had_it(
    app: FastAPI, client: TestClient, runtime: Runtime
) -> None:
    log_in(client, "grace")
    token = api_login(client.__class__(app), "grace")
    settings = web_settings()
    settings.users["grace"].roles = ["viewer"]
    reload_users(app, settings)
    try:
        page = client.get("/")
        assert page.status_code == 401 and "a role was removed" in page.text
        api = client.get("/api/approvals", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 401 and "a role was removed" in api.json()["message"]
    finally:
        reload_users(app, web_settings())
    # With the role back, the ended sessions stay ended: a new login is needed.
    assert client.get("/").status_code == 401


def test_sessions_have_an_absolute_maximum_age(client: TestClient, clock: Clock) -> None:
    log_in(client, "audrey")
    start = clock.now
    try:
        clock.now = start + _dt.timedelta(hours=7, minutes=59)
        assert client.get("/").status_code == 200  # activity does not extend the session
        clock.now = start + _dt.timedelta(hours=8, seconds=1)
        expired = client.get("/")
        assert expired.status_code == 401 and "expired" in expired.text
    finally:
        clock.now = start


def test_api_tokens_are_listed_and_revoked(client: TestClient, runtime: Runtime) -> None:
    first = api_login(client, "bob")
    second = api_login(client, "bob")
    mine = client.get("/api/tokens", headers={"Authorization": f"Bearer {first}"})
    assert mine.status_code == 200
    listed = [item for item in mine.json() if item["kind"] == "token"]
    assert len(listed) >= 2 and all(item["account"] == "bob" for item in mine.json())
    assert all("token" not in item and "digest" not in item for item in listed)
    whoami = client.get("/api/whoami", headers={"Authorization": f"Bearer {second}"}).json()
    revoked = client.delete(
        f"/api/tokens/{whoami['credential']}", headers={"Authorization": f"Bearer {first}"}
    )
    assert revoked.status_code == 200
    refused = client.get("/api/approvals", headers={"Authorization": f"Bearer {second}"})
    assert refused.status_code == 401 and refused.json()["error"] == "credential_ended"
    assert "revoked by bob" in refused.json()["message"]
    # Nobody revokes another user's token (but an operator may).
    vic = api_login(client, "vic")
    vic_id = client.get("/api/whoami", headers={"Authorization": f"Bearer {vic}"}).json()
    nope = client.delete(
        f"/api/tokens/{vic_id['credential']}", headers={"Authorization": f"Bearer {first}"}
    )
    assert nope.status_code == 404
    olga = api_login(client, "olga")
    done = client.delete(
        f"/api/tokens/{vic_id['credential']}", headers={"Authorization": f"Bearer {olga}"}
    )
    assert done.status_code == 200


def test_bad_tokens_are_refused_with_their_reason(
    client: TestClient, runtime: Runtime, clock: Clock, tmp_path: Path
) -> None:
    good = api_login(client, "fiona")
    prefix, _, secret = good.partition(".")
    cases = {
        "forged": (prefix + "." + secret[:-4] + "AAAA", "unknown_credential"),
        "another console": ("tts_0123456789ab." + secret, "other_console"),
    }
    for name, (token, reason) in cases.items():
        response = client.get("/api/approvals", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["error"] == reason, name
    start = clock.now
    try:
        clock.now = start + _dt.timedelta(days=31)
        expired = client.get("/api/approvals", headers={"Authorization": f"Bearer {good}"})
        assert expired.status_code == 401 and expired.json()["error"] == "credential_expired"
    finally:
        clock.now = start
    # A token of a second console (its own database) is refused by this one as such.
    rt = make_runtime(f"sqlite:///{tmp_path / 'other.db'}", tmp_path)
    try:
        with TestClient(create_app(rt, web_settings(), session_secret="t" * 48)) as second:
            theirs = api_login(second, "fiona")
        mine = client.get("/api/approvals", headers={"Authorization": f"Bearer {theirs}"})
        assert mine.status_code == 401 and mine.json()["error"] == "other_console"
    finally:
        rt.close()


def test_an_operator_ends_a_users_sessions(client: TestClient, other: TestClient) -> None:
    log_in(other, "alice")
    olga = api_login(client, "olga")
    ended = client.post(
        "/api/accounts/alice/sessions/end", headers={"Authorization": f"Bearer {olga}"}
    )
    assert ended.status_code == 200 and ended.json()["ended"] >= 1
    assert other.get("/").status_code == 401
