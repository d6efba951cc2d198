"""Abuse is bounded: login guessing is slowed per account and per client, then locked
until an operator clears it (all recorded); request bodies are capped before anyone is
authenticated; unauthenticated refusals are recorded once per client and window, with
a count; X-Forwarded-For is believed only from configured proxies."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORDS, bearer, web_settings
from tether.config import LoginLimits
from tether.runtime import Runtime
from tether.web import create_app


class Clock:
    def __init__(self) -> None:
        self.now = _dt.datetime(2026, 12, 1, 9, 0, tzinfo=_dt.UTC)

    def __call__(self) -> _dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += _dt.timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def app(runtime: Runtime, evals_dir: Path, clock: Clock) -> FastAPI:
    settings = web_settings()
    settings.login = LoginLimits(
        backoff_after=2, backoff_seconds=30, backoff_max_seconds=120, lock_after=4
    )
    settings.max_body_bytes = 64 * 1024
    settings.refusal_window_seconds = 60
    settings.trusted_proxies = ["10.9.0.0/16"]
    return create_app(runtime, settings, session_secret="s" * 48, evals_dir=evals_dir, clock=clock)


def from_address(app: FastAPI, address: str) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False, client=(address, 40000)) as made:
        yield made


@pytest.fixture
def attacker(app: FastAPI) -> Iterator[TestClient]:
    yield from from_address(app, "192.0.2.66")


def attempt(client: TestClient, name: str, password: str, **headers: str) -> Any:
    return client.post("/api/login", json={"username": name, "password": password}, headers=headers)


def events(runtime: Runtime, kind: str, since: int = 0) -> list[dict[str, Any]]:
    return [
        dict(stored.event.details or {})
        for stored in runtime.audit.events()
        if stored.event.type == kind and stored.seq > since
    ]


def last_seq(runtime: Runtime) -> int:
    found = list(runtime.audit.events(limit=1, newest=True))
    return found[0].seq if found else 0


def test_guessing_backs_off_then_locks_until_an_operator_clears_it(
    app: FastAPI, attacker: TestClient, client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    assert attempt(attacker, "fiona", "guess-1").status_code == 401
    assert attempt(attacker, "fiona", "guess-2").status_code == 401
    held = attempt(attacker, "fiona", "guess-3")
    assert held.status_code == 429 and held.json()["error"] == "login_throttled"
    assert int(held.headers["retry-after"]) >= 29
    # Even the right password waits: the check comes before the password is looked at.
    assert attempt(attacker, "fiona", PASSWORDS["fiona"]).status_code == 429
    clock.advance(31)
    assert attempt(attacker, "fiona", "guess-3").status_code == 401
    clock.advance(61)
    assert attempt(attacker, "fiona", "guess-4").status_code == 401  # the 4th failure: locked
    clock.advance(3600 * 24)
    locked = attempt(client, "fiona", PASSWORDS["fiona"])  # another client: the account is locked
    assert locked.status_code == 423 and "an operator can clear it" in locked.json()["message"]
    (lock,) = [item for item in events(runtime, "login.locked") if item["key"] == "account:fiona"]
    assert lock["after"] == 4
    olga = attempt(client, "olga", PASSWORDS["olga"]).json()["token"]
    listed = client.get("/api/lockouts", headers={"Authorization": f"Bearer {olga}"}).json()
    assert {
        k: v for k, v in next(i for i in listed if i["key"] == "account:fiona").items()
        if k in ("key", "locked")
    } == {"key": "account:fiona", "locked": True}  # fmt: skip
    cleared = client.post(
        "/api/lockouts/clear",
        json={"account": "fiona"},
        headers={"Authorization": f"Bearer {olga}"},
    )
    assert cleared.status_code == 200 and cleared.json() == {
        "key": "account:fiona",
        "cleared": True,
    }
    (unlocked,) = events(runtime, "login.unlocked")
    assert unlocked["key"] == "account:fiona"
    assert attempt(client, "fiona", PASSWORDS["fiona"]).status_code == 200
    refused = [item["refusal"] for item in events(runtime, "login.refused")]
    assert refused.count("bad_login") == 4 and "login_throttled" in refused
    assert "login_locked" in refused
    assert "guess" not in str(events(runtime, "login.refused"))  # no password is recorded


def test_a_client_guessing_many_accounts_is_held_too(app: FastAPI, clock: Clock) -> None:
    for sprayer in from_address(app, "198.51.100.7"):
        assert attempt(sprayer, "frank", "x").status_code == 401
        assert attempt(sprayer, "grace", "x").status_code == 401
        held = attempt(sprayer, "bob", "x")
        assert held.status_code == 429 and "client:198.51.100.7" in held.json()["message"]
    for elsewhere in from_address(app, "198.51.100.8"):
        assert attempt(elsewhere, "bob", PASSWORDS["bob"]).status_code == 200


def test_forwarded_for_is_believed_only_from_trusted_proxies(app: FastAPI, clock: Clock) -> None:
    clock.advance(7200)
    for direct in from_address(app, "203.0.113.9"):
        # Not a trusted proxy: its X-Forwarded-For is ignored; rotating it does not help.
        for index in range(2):
            forged = {"X-Forwarded-For": f"10.0.0.{index}"}
            assert attempt(direct, "audrey", "x", **forged).status_code == 401
        held = attempt(direct, "vic", "x", **{"X-Forwarded-For": "10.0.0.99"})
        assert held.status_code == 429 and "client:203.0.113.9" in held.json()["message"]
    for proxy in from_address(app, "10.9.1.1"):
        # A trusted proxy: the client is the address it names (the nearest untrusted hop).
        for index in range(2):
            hops = {"X-Forwarded-For": f"192.0.2.{index + 10}, 10.9.1.2"}
            assert attempt(proxy, "audrey", "x", **hops).status_code in (401, 429)
        fresh = attempt(proxy, "audrey", PASSWORDS["audrey"], **{"X-Forwarded-For": "192.0.2.50"})
        # audrey herself is now held (two failures), but not because of the proxy's address.
        assert fresh.status_code == 429 and "account:audrey" in fresh.json()["message"]


def test_a_body_too_large_is_refused_before_authentication(
    client: TestClient, runtime: Runtime
) -> None:
    mark = last_seq(runtime)
    big = b"x" * (65 * 1024)
    declared = client.post(
        "/api/approvals/apr_x/approve", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413 and declared.json()["error"] == "body_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 4096

    streamed = client.post(
        "/api/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    # Nobody was authenticated, no password hashed, nothing recorded for them.
    assert not events(runtime, "login.refused", since=mark)
    assert not events(runtime, "access.refused", since=mark)
    small = client.get("/api/approvals", headers=bearer("vic"))
    assert small.status_code == 200


def test_unauthenticated_refusals_are_aggregated(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    clock.advance(120)  # a fresh window
    client.get("/api/approvals")  # closes the previous window's tally, if any
    mark = last_seq(runtime)
    for index in range(50):
        assert client.get(f"/api/runs/run_{index}").status_code == 401
    recorded = events(runtime, "access.refused", since=mark)
    assert recorded == []  # the first of this window was recorded before the mark
    clock.advance(61)
    assert client.get("/api/stop").status_code == 401  # the next window: the first again
    recorded = events(runtime, "access.refused", since=mark)
    summary = next(item for item in recorded if item.get("aggregated"))
    assert summary["count"] == 50 and summary["client"] == "testclient"
    assert summary["refusal"] == "unauthenticated" and len(summary["paths"]) == 20
    firsts = [item for item in recorded if not item.get("aggregated")]
    assert len(firsts) == 1 and firsts[0]["path"] == "/api/stop"
    assert len(recorded) == 2  # 51 refusals, two events
