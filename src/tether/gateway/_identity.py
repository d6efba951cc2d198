"""Who is calling: bearer tokens checked, and mapped to a tether principal and agent.

Two kinds of token are accepted:

- **OAuth 2.1 access tokens** (JWTs) from the configured authorization server: the
  signature against the issuer's published keys (JOSE by ``joserfc``), the issuer,
  the audience (this gateway, and only it), expiry and not-before, the required
  scopes; with ``introspection``, the authorization server's word that the token is
  still active (not revoked).
- **Static API tokens** from ``tether.yaml`` (compared by SHA-256, for local use).

A token is only ever checked here: it is never passed upstream (the upstream servers
get the gateway's own credentials, per server, from the connector settings).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from mcp.server.auth.provider import AccessToken

from tether.errors import ConfigurationError
from tether.gateway._settings import GatewaySettings, OAuthSettings
from tether.policy import Policy

_log = logging.getLogger("tether.gateway")
_STATIC_CLIENT = "tether-static-token"
_KEYS_REFRESH_SECONDS = 30.0
_VERIFIED_MAX = 4096
"""How many signed tokens' checks are remembered (the oldest are forgotten first)."""


@dataclass(frozen=True, kw_only=True)
class Caller:
    """The authenticated identity behind a request, as tether knows it."""

    principal: str
    """The policy's user the calls are made for."""
    agent: str
    """The policy's agent making them."""
    subject: str
    """The token's subject (``sub``), or the static token's name."""
    issuer: str
    """Who vouched for it: the authorization server, or ``tether`` (a static token or stdio)."""
    client_id: str
    method: Literal["oidc", "api_token", "local"]
    credential: str
    """Which credential (a token's name, a client id), never a secret."""

    @property
    def key(self) -> str:
        """Identifies the session's owner: one run per owner and agent."""
        return f"{self.issuer}|{self.subject}|{self.client_id}|{self.agent}"

    def record(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "method": self.method,
            "credential": self.credential,
        }


@dataclass(frozen=True, kw_only=True)
class _Verified:
    answer: tuple[Caller, list[str], int | None]
    keys: KeySet
    """The key set the signature was checked against."""
    until: float
    """The token's expiry (seconds since the epoch)."""


class TokenRefused(Exception):
    """A token was presented and refused; the message says why (never the token)."""


class Identities:
    """Checks bearer tokens (the MCP SDK's ``TokenVerifier``) and names their callers."""

    def __init__(
        self,
        settings: GatewaySettings,
        policy: Policy,
        *,
        on_refusal: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.on_refusal = on_refusal
        self._static = _static_tokens(settings)
        self._oauth = settings.oauth
        self._transport = transport
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._jwks_url: str | None = self._oauth.jwks_url if self._oauth else None
        self._introspection_url: str | None = None
        self._lock = asyncio.Lock()
        self._verified: dict[str, _Verified] = {}
        """Signed tokens already checked, by digest (never the token itself)."""

    @property
    def oauth(self) -> OAuthSettings | None:
        return self._oauth

    # --- the MCP SDK's TokenVerifier ------------------------------------------------------

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's access info with its caller in ``claims``, or None (a 401)."""
        try:
            caller, scopes, expires = await self.check(token)
        except TokenRefused as exc:
            _log.info("bearer token refused: %s", exc)
            if self.on_refusal is not None:
                self.on_refusal(str(exc))
            return None
        return AccessToken(
            token=_fingerprint(token),  # the SDK keeps it on the request: never the token
            client_id=caller.client_id,
            scopes=scopes,
            expires_at=expires,
            resource=self.settings.url,
            subject=caller.subject,
            claims={"iss": caller.issuer, "tether": caller_claims(caller)},
        )

    async def check(self, token: str) -> tuple[Caller, list[str], int | None]:
        """The caller a token stands for, its scopes and expiry; :class:`TokenRefused`."""
        static = self._static_caller(token)
        if static is not None:
            return static, [], None
        if self._oauth is None:
            raise TokenRefused("not a known API token (no authorization server is configured)")
        if _is_jws(token):
            return await self._signed(self._oauth, token)
        if self._oauth.introspection is not None:
            claims = await self._introspected(self._oauth, token)
        else:
            raise TokenRefused("not a signed token (JWT), and no introspection is configured")
        return self._accepted(self._oauth, claims)

    def _accepted(
        self, oauth: OAuthSettings, claims: Mapping[str, Any]
    ) -> tuple[Caller, list[str], int | None]:
        caller = self._caller_of(oauth, claims)
        scopes = _scopes(claims)
        missing = sorted(set(oauth.required_scopes) - set(scopes))
        if missing:
            raise TokenRefused(f"the token lacks the scopes {', '.join(missing)}")
        expires = claims.get("exp")
        return caller, scopes, int(expires) if isinstance(expires, int | float) else None

    async def _signed(
        self, oauth: OAuthSettings, token: str
    ) -> tuple[Caller, list[str], int | None]:
        """A signed token's check, made once per token: a client sends the same token
        with every request until it expires, and the signature, issuer, audience and
        the policy's mapping do not change meanwhile. The answer is remembered until
        the token's ``exp`` (its leeway is granted only by checking again), and only
        while the issuer's key set it was checked against is the current one (a
        rotation that drops the key refuses the token from then on)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        known = self._verified.get(digest)
        if known is not None and known.keys is self._keys and time.time() < known.until:
            caller, scopes, expires = known.answer
            return caller, list(scopes), expires
        claims = await self._verified_claims(oauth, token)
        answer = self._accepted(oauth, claims)
        if answer[2] is not None and self._keys is not None:
            self._remember(digest, _Verified(answer=answer, keys=self._keys, until=answer[2]))
        return answer

    def _remember(self, digest: str, verified: _Verified) -> None:
        if len(self._verified) >= _VERIFIED_MAX:
            now = time.time()
            for key in [k for k, v in self._verified.items() if v.until <= now]:
                del self._verified[key]
            while len(self._verified) >= _VERIFIED_MAX:
                del self._verified[next(iter(self._verified))]
        self._verified[digest] = verified

    # --- static tokens --------------------------------------------------------------------

    def _static_caller(self, token: str) -> Caller | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        for expected, (name, user, agent) in self._static.items():
            if hmac.compare_digest(digest, expected):
                return Caller(
                    principal=user,
                    agent=agent,
                    subject=name,
                    issuer="tether",
                    client_id=_STATIC_CLIENT,
                    method="api_token",
                    credential=name,
                )
        return None

    # --- OAuth access tokens --------------------------------------------------------------

    async def _verified_claims(self, oauth: OAuthSettings, token: str) -> dict[str, Any]:
        try:
            decoded = jwt.decode(token, await self._key_set(oauth), algorithms=oauth.algorithms)
        except InvalidKeyIdError:  # the issuer may have rotated its keys: read them again
            try:
                keys = await self._key_set(oauth, refresh=True)
                decoded = jwt.decode(token, keys, algorithms=oauth.algorithms)
            except (JoseError, ValueError) as again:
                raise TokenRefused(f"not a valid signed token: {again}") from None
        except (JoseError, ValueError) as exc:
            raise TokenRefused(f"not a valid signed token: {exc}") from None
        return self._checked_claims(oauth, dict(decoded.claims))

    def _checked_claims(self, oauth: OAuthSettings, claims: dict[str, Any]) -> dict[str, Any]:
        """Issuer, expiry, not-before, subject and audience: the token is for this gateway."""
        registry = jwt.JWTClaimsRegistry(
            leeway=oauth.leeway_seconds,
            iss={"essential": True, "value": oauth.issuer},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise TokenRefused(str(exc)) from None
        audience = oauth.audience_for(self.settings.url)
        granted = claims.get("aud")
        audiences = granted if isinstance(granted, list) else [granted]
        if audience not in audiences:
            raise TokenRefused(f"the token was issued for {granted!r}, not for {audience}")
        return claims

    async def _key_set(self, oauth: OAuthSettings, *, refresh: bool = False) -> KeySet:
        async with self._lock:
            fresh = time.monotonic() - self._keys_at < _KEYS_REFRESH_SECONDS
            if self._keys is not None and (not refresh or fresh):
                return self._keys
            try:
                if self._jwks_url is None:
                    await self._discover(oauth)
                assert self._jwks_url is not None
                response = await self._get(self._jwks_url)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                if self._keys is not None:
                    return self._keys
                raise TokenRefused(f"the issuer's keys cannot be read: {exc}") from None
            self._keys_at = time.monotonic()
            return self._keys

    async def _discover(self, oauth: OAuthSettings) -> None:
        base = oauth.issuer.rstrip("/")
        for path in (
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ):
            response = await self._get(base + path)
            if response.status_code == 200:
                document = response.json()
                if document.get("issuer") != oauth.issuer:
                    raise ValueError(
                        f"the discovery document names issuer {document.get('issuer')}"
                    )
                self._jwks_url = document["jwks_uri"]
                self._introspection_url = document.get("introspection_endpoint")
                return
        raise ValueError(f"no discovery document at {base}")

    async def _introspected(self, oauth: OAuthSettings, token: str) -> dict[str, Any]:
        """An opaque token's claims, from the authorization server (RFC 7662): only an
        active token has any; a revoked one is refused at once."""
        settings = oauth.introspection
        assert settings is not None
        if self._introspection_url is None:
            try:
                await self._discover(oauth)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise TokenRefused(f"the issuer cannot be discovered: {exc}") from None
        secret = os.environ.get(settings.client_secret_env)
        if not secret or self._introspection_url is None:
            raise TokenRefused("token introspection is configured but cannot be used")
        try:
            response = await self._post(
                self._introspection_url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=(settings.client_id, secret),
            )
            response.raise_for_status()
            claims = dict(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenRefused(
                f"the authorization server could not confirm the token: {exc}"
            ) from None
        if claims.get("active") is not True:
            raise TokenRefused(
                "the authorization server says the token is not active (revoked or expired)"
            )
        claims.setdefault("iss", oauth.issuer)
        if "sub" not in claims and isinstance(claims.get("client_id"), str):
            claims["sub"] = claims["client_id"]  # a client acting on its own (RFC 9068 §2.2)
        return self._checked_claims(oauth, claims)

    def _caller_of(self, oauth: OAuthSettings, claims: Mapping[str, Any]) -> Caller:
        subject = str(claims["sub"])
        named = claims.get(oauth.user_claim)
        if not isinstance(named, str) or not named:
            raise TokenRefused(f"the token has no {oauth.user_claim!r} claim")
        user = oauth.users.get(named, named)
        if self.policy.principal(user) is None:
            raise TokenRefused(f"{oauth.user_claim} {named!r} is not a user of the policy")
        client_id = str(claims.get("client_id") or claims.get("azp") or "")
        agent = self._agent_of(oauth, claims, client_id)
        return Caller(
            principal=user,
            agent=agent,
            subject=subject,
            issuer=oauth.issuer,
            client_id=client_id or "-",
            method="oidc",
            credential=client_id or subject,
        )

    def _agent_of(self, oauth: OAuthSettings, claims: Mapping[str, Any], client_id: str) -> str:
        registered = oauth.clients.get(client_id)
        claimed = claims.get(oauth.agent_claim) if oauth.agent_claim else None
        if registered is not None:
            if claimed is not None and claimed != registered:
                raise TokenRefused(
                    f"client {client_id} is registered as agent {registered}, not {claimed!r}"
                )
            agent = registered
        elif isinstance(claimed, str) and claimed:
            if oauth.agents is not None and claimed not in oauth.agents:
                raise TokenRefused(f"agent {claimed!r} may not be named by a token")
            agent = claimed
        else:
            raise TokenRefused(f"client {client_id or '(none)'} is not registered as an agent")
        if agent not in self.policy.agents:
            raise TokenRefused(f"agent {agent!r} is not an agent of the policy")
        return agent

    async def _get(self, url: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10.0, transport=self._transport) as client:
            return await client.get(url)

    async def _post(self, url: str, **options: Any) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10.0, transport=self._transport) as client:
            return await client.post(url, **options)


def caller_claims(caller: Caller) -> dict[str, str]:
    return {
        "principal": caller.principal,
        "agent": caller.agent,
        "subject": caller.subject,
        "issuer": caller.issuer,
        "client_id": caller.client_id,
        "method": caller.method,
        "credential": caller.credential,
    }


def caller_from_claims(data: Mapping[str, Any]) -> Caller:
    method = data["method"]
    if method not in ("oidc", "api_token", "local"):
        raise ValueError(method)
    return Caller(
        principal=data["principal"],
        agent=data["agent"],
        subject=data["subject"],
        issuer=data["issuer"],
        client_id=data["client_id"],
        method=method,
        credential=data["credential"],
    )


def local_caller(policy: Policy, *, user: str, agent: str) -> Caller:
    """The caller of a stdio gateway: the person who started it, named on the command line."""
    if policy.principal(user) is None:
        raise ConfigurationError(f"{user!r} is not a user of the policy")
    if agent not in policy.agents:
        raise ConfigurationError(f"{agent!r} is not an agent of the policy")
    return Caller(
        principal=user,
        agent=agent,
        subject=user,
        issuer="tether",
        client_id="stdio",
        method="local",
        credential="stdio",
    )


def _static_tokens(settings: GatewaySettings) -> dict[str, tuple[str, str, str]]:
    found: dict[str, tuple[str, str, str]] = {}
    for item in settings.tokens:
        digest = item.sha256
        if item.token_env is not None:
            value = os.environ.get(item.token_env)
            if not value:
                raise ConfigurationError(
                    f"gateway token {item.name!r}: the variable {item.token_env} is not set"
                )
            digest = hashlib.sha256(value.encode()).hexdigest()
        assert digest is not None
        found[digest.lower()] = (item.name, item.user, item.agent)
    return found


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    scp = claims.get("scp")
    return [str(s) for s in scp] if isinstance(scp, list) else []


def _is_jws(token: str) -> bool:
    return token.count(".") == 2


def _fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:32]
