"""A real OpenID Connect provider for the single sign-on tests: panva's `oidc-provider`
(Node), started on loopback from tests/oidc (installed by `npm ci --prefix tests/oidc`).

Skipped, with the reason, where Node or the package is missing; CI installs both and
sets TETHER_REQUIRE_OIDC=1, which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

PROVIDER = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "tether-console"
CLIENT_SECRET = "tether-test-client-secret-0123456789"
GROUPS = {"fiona": ["finance"], "frank": ["finance"], "olga": ["ops"], "mallory": []}
ROLE_MAP = {"finance": ["approver"], "ops": ["operator"], "user:vic": ["viewer"]}
SECRET_ENV = "TETHER_TEST_OIDC_SECRET"


def missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (PROVIDER / "node_modules" / "oidc-provider").is_dir():
        return "oidc-provider is not installed: npm ci --prefix tests/oidc"
    return None


def require() -> None:
    reason = missing()
    if reason:
        if os.environ.get("TETHER_REQUIRE_OIDC") == "1":
            pytest.fail(f"single sign-on tests are required here, but {reason}")
        pytest.skip(reason)


@dataclass(frozen=True)
class Provider:
    issuer: str
    process: subprocess.Popen[str]


@contextmanager
def provider(port: int, clients: Sequence[dict[str, Any]]) -> Iterator[Provider]:
    """The provider on ``port`` with these registered clients, until the block ends."""
    env = {
        **os.environ,
        "TETHER_OIDC_PORT": str(port),
        "TETHER_OIDC_CLIENTS": json.dumps(list(clients)),
        "TETHER_OIDC_GROUPS": json.dumps(GROUPS),
    }
    process = subprocess.Popen(
        ["node", str(PROVIDER / "provider.mjs")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the OpenID provider did not start: {line!r}")
        yield Provider(issuer=line.split()[1], process=process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def client(redirect_uri: str, client_id: str = CLIENT_ID) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


def oidc_settings(issuer: str, redirect_uri: str, **extra: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "redirect_url": redirect_uri,
        "roles": ROLE_MAP,
        **extra,
    }


_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def sign_on(http: httpx.Client, url: str, login: str, *, stop_at: str) -> str:
    """Follow ``url`` through the provider's login and consent pages as ``login`` (any
    password: the provider's development interactions); the first redirect to a URL
    starting with ``stop_at`` (the console's callback) is returned, not followed."""
    response = http.get(url)
    for _ in range(20):
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(stop_at):
                return target
            response = http.get(target)
            continue
        form = _ACTION.search(response.text)
        if form is None:
            raise AssertionError(f"no form on {response.url}: {response.text[:300]}")
        action = urljoin(str(response.url), form.group(1))
        if 'name="login"' in response.text:
            data = {"prompt": "login", "login": login, "password": "any-password"}
        else:
            data = {"prompt": "consent"}
        response = http.post(action, data=data)
    raise AssertionError("the sign-on did not come back to the console")


def wait_for(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
