"""Signed access tokens are checked once per token, and never trusted past their expiry
or after the issuer's keys changed (unit level: an in-process key set, no server)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from tether.gateway import GatewaySettings, Identities, TokenRefused
from tether.gateway import _identity as identity_module
from tether.policy import load_policy_text

URL = "http://127.0.0.1:8765/mcp"
ISSUER = "http://127.0.0.1:9999"
POLICY = """
version: 1
roles: {support: {may: []}}
users: {alice: {roles: [support]}}
agents: {desk: {may_act_for: [role:support], tools: []}}
"""


class Issuer:
    """The authorization server's published keys (``keys`` may be changed: a rotation)."""

    def __init__(self) -> None:
        self.keys = [ECKey.generate_key("P-256", parameters={"kid": "one"})]
        self.served = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.served += 1
        return httpx.Response(200, json=KeySet(self.keys).as_dict(private=False))

    def token(self, key: ECKey | None = None, *, seconds: float = 300) -> str:
        key = key or self.keys[0]
        claims = {
            "iss": ISSUER,
            "sub": "alice",
            "aud": URL,
            "client_id": "desk-client",
            "exp": int(time.time() + seconds),
        }
        return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def identities(issuer: Issuer) -> Identities:
    settings = GatewaySettings.model_validate(
        {
            "url": URL,
            "oauth": {
                "issuer": ISSUER,
                "jwks_url": f"{ISSUER}/jwks",
                "leeway_seconds": 0,
                "clients": {"desk-client": "desk"},
            },
        }
    )
    return Identities(
        settings, load_policy_text(POLICY), transport=httpx.MockTransport(issuer.handler)
    )


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signatures were checked."""
    seen: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(identity_module.jwt, "decode", counting)
    return seen


async def test_a_signed_token_is_verified_once_for_all_its_requests(
    identities: Identities, issuer: Issuer, decoded: list[str]
) -> None:
    access = issuer.token()
    answers = [await identities.check(access) for _ in range(3)]
    assert decoded == [access]
    caller, scopes, expires = answers[0]
    assert scopes == []
    assert (caller.principal, caller.agent, caller.subject) == ("alice", "desk", "alice")
    assert answers[1] == answers[2] == answers[0]
    assert expires is not None and expires > time.time()
    other = issuer.token(seconds=200)
    await identities.check(other)
    assert decoded == [access, other]  # another token is checked on its own


async def test_a_remembered_token_is_refused_once_it_expires(
    identities: Identities, issuer: Issuer, decoded: list[str]
) -> None:
    access = issuer.token(seconds=1)
    await identities.check(access)
    await identities.check(access)
    assert len(decoded) == 1
    time.sleep(1.2 + (int(time.time()) + 1 - time.time()))  # past its whole-second expiry
    with pytest.raises(TokenRefused, match="expired"):
        await identities.check(access)
    assert len(decoded) == 2


async def test_a_forged_copy_of_a_remembered_token_is_refused(
    identities: Identities, issuer: Issuer
) -> None:
    access = issuer.token()
    await identities.check(access)
    head, body, signature = access.split(".")
    with pytest.raises(TokenRefused, match="not a valid signed token"):
        await identities.check(f"{head}.{body}.{signature[::-1]}")


async def test_a_token_signed_by_a_key_the_issuer_dropped_is_refused_after_the_rotation(
    identities: Identities, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity_module, "_KEYS_REFRESH_SECONDS", 0.0)  # may read them at once
    old = issuer.token()
    await identities.check(old)
    issuer.keys = [ECKey.generate_key("P-256", parameters={"kid": "two"})]
    await identities.check(issuer.token())  # an unknown key id: the keys are read again
    assert issuer.served == 2
    with pytest.raises(TokenRefused, match="not a valid signed token"):
        await identities.check(old)
