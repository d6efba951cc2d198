"""Single sign-on against a real OpenID Connect provider (oidc-provider, on loopback):
roles mapped from the ID token's groups, unmapped users refused, the CLI's sign-on, and
every bad input a clear recorded refusal: a replayed login, an ID token of the wrong
audience, issuer or nonce, expired or forged, an unreachable issuer, a bad secret."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.web.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_ENV,
    client,
    oidc_settings,
    provider,
    require,
    sign_on,
)
from tests.web.served import Served, free_port, serve
from tether.config import OidcSettings
from tether.web._sso_client import SingleSignOn, SsoRefused

pytestmark = pytest.mark.slow


SPARE_CLIENT = "tether-console-2"


@pytest.fixture(scope="module")
def ports() -> tuple[int, int, int]:
    """The provider's, the console's, and a second console's (misconfigured)."""
    return free_port(), free_port(), free_port()


@pytest.fixture(scope="module")
def issuer(ports: tuple[int, int, int]) -> Iterator[str]:
    require()
    provider_port, console_port, spare_port = ports
    callback = f"http://127.0.0.1:{console_port}/login/sso/callback"
    spare = client(f"http://127.0.0.1:{spare_port}/login/sso/callback", client_id=SPARE_CLIENT)
    other = client("http://127.0.0.1:1/elsewhere", client_id="another-app")
    with provider(provider_port, [client(callback), spare, other]) as running:
        yield running.issuer


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, desk: Path, issuer: str, ports: tuple[int, int, int]
) -> Iterator[Served]:
    _, console_port, _ = ports
    callback = f"http://127.0.0.1:{console_port}/login/sso/callback"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, CLIENT_SECRET)
        web = {"oidc": oidc_settings(issuer, callback)}
        with serve(tmp_path_factory.mktemp("sso"), web=web, port=console_port) as made:
            yield made


def browser(served: Served) -> httpx.Client:
    return httpx.Client(base_url=served.url, follow_redirects=False, timeout=20)


def callback_of(http: httpx.Client, served: Served, login: str) -> str:
    start = http.get("/login/sso?next=/runs")
    assert start.status_code == 303
    return sign_on(http, start.headers["location"], login, stop_at=served.url)


def refusals(served: Served, reason: str) -> list[dict[str, Any]]:
    return [
        dict(stored.event.details or {})
        for stored in served.runtime.audit.events(type="login.refused")
        if (stored.event.details or {}).get("refusal") == reason
    ]


def test_signing_on_maps_roles_from_the_groups(served: Served) -> None:
    with browser(served) as http:
        landed = http.get(callback_of(http, served, "fiona"))
        assert landed.status_code == 303 and landed.headers["location"] == "/runs"
        page = http.get("/")
        assert page.status_code == 200
        assert "fiona" in page.text and "(approver; oidc)" in page.text
    (login,) = [
        e.event
        for e in served.runtime.audit.events(type="login.succeeded")
        if (e.event.details or {}).get("account") == "fiona"
    ]
    assert login.details and login.details["method"] == "oidc"
    assert login.actor and login.actor["method"] == "oidc"


def test_a_user_the_mapping_gives_no_role_is_refused(served: Served) -> None:
    with browser(served) as http:
        refused = http.get(callback_of(http, served, "mallory"))
        assert refused.status_code == 401 and "gives them no role" in refused.text
        assert http.get("/").status_code == 401
    assert refusals(served, "sso_unmapped")


def test_a_replayed_login_is_refused(served: Served) -> None:
    with browser(served) as http:
        callback = callback_of(http, served, "frank")
        assert http.get(callback).status_code == 303
    with browser(served) as thief:  # the same callback, again, from elsewhere
        replay = thief.get(callback)
        assert replay.status_code == 401 and "already used" in replay.text
        assert thief.get("/").status_code == 401
    assert refusals(served, "login_replayed")


def test_a_sign_on_started_in_another_browser_is_refused(served: Served) -> None:
    with browser(served) as victim, browser(served) as attacker:
        callback = callback_of(attacker, served, "olga")
        # The attacker's finished sign-on, fed to the victim's browser: login CSRF.
        forced = victim.get(callback)
        assert forced.status_code == 401 and "another browser" in forced.text
    assert refusals(served, "sso_state_mismatch")


def test_an_unknown_state_is_refused(served: Served) -> None:
    with browser(served) as http:
        refused = http.get("/login/sso/callback?code=abc&state=made-up")
        assert refused.status_code == 401 and "not started here" in refused.text
    assert refusals(served, "sso_state_unknown")


def test_the_cli_signs_on_in_a_browser(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials.json"
    env = {
        **os.environ,
        "TETHER_CREDENTIALS": str(credentials),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "COLUMNS": "500",
    }
    command = [sys.executable, "-c", "from tether.cli import main; main()"]
    with subprocess.Popen(
        [*command, "login", "--sso", "--console", served.url, "--wait", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            printed = []
            for line in process.stdout:
                printed.append(line)
                if line.startswith("http"):
                    break
            url = printed[-1].strip() if printed else ""
            assert url.startswith("http"), "".join(printed)
            with httpx.Client(follow_redirects=False, timeout=20) as person:
                callback = sign_on(person, url, "olga", stop_at=served.url)
                done = person.get(callback)
                assert done.status_code == 200 and "signed on as olga" in done.text
            output, _ = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 0, output
    assert "as olga (operator; oidc)" in output
    stored = json.loads(credentials.read_text())
    assert stored["user"] == "olga" and stored["method"] == "oidc"
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"
    whoami = httpx.get(
        f"{served.url}/api/whoami", headers={"Authorization": f"Bearer {stored['token']}"}
    ).json()
    assert whoami["client"] == "cli" and whoami["method"] == "oidc"


# --- the ID token: each check refuses on its own --------------------------------------


@pytest.fixture(scope="module")
def real_token(issuer: str, ports: tuple[int, int, int]) -> dict[str, str]:
    """An ID token the provider issued to tether for a nonce (a real flow)."""
    _, console_port, _ = ports
    callback = f"http://127.0.0.1:{console_port}/login/sso/callback"
    sso = SingleSignOn(
        OidcSettings.model_validate(oidc_settings(issuer, callback)),
        env={SECRET_ENV: CLIENT_SECRET},
    )
    begun = sso.begin(callback)
    with httpx.Client(follow_redirects=False, timeout=20) as person:
        back = sign_on(person, begun.url, "fiona", stop_at=callback)
    code = httpx.URL(back).params["code"]
    with OAuth2Client(CLIENT_ID, CLIENT_SECRET, redirect_uri=callback) as oauth:
        token = oauth.fetch_token(
            sso.metadata()["token_endpoint"],
            code=code,
            code_verifier=begun.verifier,
            redirect_uri=callback,
        )
    return {"id_token": token["id_token"], "nonce": begun.nonce, "callback": callback}


def checker(issuer: str, callback: str, **changes: Any) -> SingleSignOn:
    settings = OidcSettings.model_validate({**oidc_settings(issuer, callback), **changes})
    return SingleSignOn(settings, env={SECRET_ENV: CLIENT_SECRET})


def test_a_real_id_token_passes(issuer: str, real_token: dict[str, str]) -> None:
    sso = checker(issuer, real_token["callback"])
    claims = sso.check_id_token(real_token["id_token"], nonce=real_token["nonce"])
    assert claims["preferred_username"] == "fiona" and claims["groups"] == ["finance"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("nonce", "id_token_wrong_nonce"),
        ("audience", "id_token_wrong_aud"),
        ("expired", "id_token_expired"),
        ("tampered", "id_token_forged"),
        ("own key", "id_token_forged"),
    ],
)
def test_a_bad_id_token_is_refused(
    issuer: str, real_token: dict[str, str], change: str, reason: str
) -> None:
    token, nonce = real_token["id_token"], real_token["nonce"]
    sso = checker(issuer, real_token["callback"])
    if change == "nonce":
        nonce = "not-the-nonce-of-this-login"
    elif change == "audience":
        sso = checker(issuer, real_token["callback"], client_id="another-app")
    elif change == "expired":
        sso.now = lambda: 4_000_000_000.0
    elif change == "tampered":
        header, payload, signature = token.split(".")
        token = f"{header}.{payload[:-3]}AAA.{signature}"
    elif change == "own key":  # the same claims and key id, signed with another key
        claims = sso.check_id_token(token, nonce=nonce)
        kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
        token = jwt.encode({"alg": "RS256", "kid": kid}, claims, RSAKey.generate_key(2048))
    with pytest.raises(SsoRefused) as refused:
        sso.check_id_token(token, nonce=nonce)
    assert refused.value.reason == reason, refused.value.message


def test_claims_of_another_issuer_are_refused(issuer: str, real_token: dict[str, str]) -> None:
    sso = checker(issuer, real_token["callback"])
    claims = sso.check_id_token(real_token["id_token"], nonce=real_token["nonce"])
    with pytest.raises(SsoRefused) as refused:
        sso.check_claims({**claims, "iss": "http://evil.example"}, nonce=real_token["nonce"])
    assert refused.value.reason == "id_token_wrong_iss"


def test_an_issuer_that_is_not_the_providers_is_refused(issuer: str) -> None:
    wrong = issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(SsoRefused) as refused:
        checker(wrong, "http://127.0.0.1:1/cb").metadata()
    assert refused.value.reason == "sso_misconfigured"


def test_misconfigured_single_sign_on_is_refused_never_a_fallback(
    tmp_path_factory: pytest.TempPathFactory,
    desk: Path,
    issuer: str,
    ports: tuple[int, int, int],
) -> None:
    port = ports[2]
    callback = f"http://127.0.0.1:{port}/login/sso/callback"
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, "a-wrong-client-secret")
        web = {"oidc": oidc_settings(issuer, callback, client_id=SPARE_CLIENT)}
        with serve(tmp_path_factory.mktemp("badsso"), web=web, port=port, launch=False) as bad:
            with browser(bad) as http:
                # A wrong client secret: the provider refuses the code at its token
                # endpoint, and nobody is logged in (no fallback to anything weaker).
                start = http.get("/login/sso")
                assert start.status_code == 303
                with httpx.Client(follow_redirects=False, timeout=20) as person:
                    back = sign_on(person, start.headers["location"], "fiona", stop_at=bad.url)
                refused = http.get(back)
                assert refused.status_code == 401 and "invalid_client" in refused.text
                assert http.get("/").status_code == 401
            assert refusals(bad, "sso_client_rejected")
        web = {"oidc": oidc_settings(dead, callback)}
        with serve(tmp_path_factory.mktemp("deadsso"), web=web, port=port, launch=False) as gone:
            with browser(gone) as http:
                refused = http.get("/login/sso")
                assert refused.status_code == 401 and "cannot be read" in refused.text
            assert refusals(gone, "sso_unreachable")
