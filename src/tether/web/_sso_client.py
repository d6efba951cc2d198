"""Single sign-on with OpenID Connect: the authorization code flow with PKCE.

Authlib builds the authorization request (``S256`` code challenge, state, nonce) and
exchanges the code; joserfc checks the ID token: its signature against the
provider's published keys, its issuer, audience, expiry and nonce. Every failure is a
:class:`SsoRefused` with a stable reason; nothing falls back to a weaker method.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet

from tether.config import OidcSettings

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


class SsoRefused(Exception):
    """Single sign-on did not authenticate anyone: ``reason`` says why (stable)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Begun:
    """An authorization request: where to send the browser, and what to keep."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identity:
    """Who the provider says logged in."""

    username: str
    subject: str
    groups: tuple[str, ...]


class SingleSignOn:
    """One OpenID Connect provider, as ``web.oidc`` configures it."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        env: Mapping[str, str] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        environ = os.environ if env is None else env
        self.settings = settings
        self.secret = (
            environ.get(settings.client_secret_env) if settings.client_secret_env else None
        )
        self.now = now
        self._metadata: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.settings.label

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (read once), its issuer checked."""
        if self._metadata is None:
            issuer = self.settings.issuer.rstrip("/")
            found = self._get_json(f"{issuer}/.well-known/openid-configuration")
            if found.get("issuer") != self.settings.issuer:
                raise SsoRefused(
                    "sso_misconfigured",
                    f"the provider says its issuer is {found.get('issuer')!r}, not "
                    f"{self.settings.issuer!r} as configured",
                )
            self._metadata = found
        return self._metadata

    def begin(self, redirect_uri: str) -> Begun:
        """A new authorization request (PKCE S256, a fresh state and nonce)."""
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=state,
                code_verifier=verifier,
                nonce=nonce,
            )
        return Begun(url=str(url), state=state, nonce=nonce, verifier=verifier)

    def finish(self, code: str, *, nonce: str, verifier: str, redirect_uri: str) -> Identity:
        """Exchange the code (with the PKCE verifier) and check the ID token."""
        with self._client(redirect_uri) as client:
            try:
                token = client.fetch_token(
                    self.metadata()["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                    redirect_uri=redirect_uri,
                )
            except OAuthError as exc:
                reason = (
                    "sso_client_rejected" if exc.error == "invalid_client" else "sso_code_refused"
                )
                raise SsoRefused(
                    reason,
                    f"the provider refused the code: {exc.error}: {exc.description or ''}".strip(),
                ) from None
            except httpx.HTTPError as exc:
                raise SsoRefused("sso_unreachable", f"the provider did not answer: {exc}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoRefused("id_token_missing", "the provider sent no ID token")
        return self.identity(self.check_id_token(id_token, nonce=nonce))

    def check_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, expiry and
        nonce are right; else :class:`SsoRefused` saying which is wrong."""
        published: Any = self._get_json(self.metadata()["jwks_uri"])
        try:
            keys = KeySet.import_key_set(published)
        except (jose_errors.JoseError, ValueError, KeyError) as exc:
            raise SsoRefused(
                "sso_misconfigured", f"the provider's keys cannot be read: {exc}"
            ) from None
        try:
            token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
        except (jose_errors.BadSignatureError, jose_errors.MissingKeyError) as exc:
            raise SsoRefused(
                "id_token_forged", f"the ID token's signature is not the provider's: {exc}"
            ) from None
        except jose_errors.JoseError as exc:
            raise SsoRefused("id_token_invalid", f"the ID token cannot be read: {exc}") from None
        claims: dict[str, Any] = dict(token.claims)
        self.check_claims(claims, nonce=nonce)
        return claims

    def check_claims(self, claims: Mapping[str, Any], *, nonce: str) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self.now()),
            leeway=30,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(dict(claims))
        except jose_errors.ExpiredTokenError:
            raise SsoRefused("id_token_expired", "the ID token has expired") from None
        except (jose_errors.InvalidClaimError, jose_errors.MissingClaimError) as exc:
            claim = getattr(exc, "claim", "?")
            names = {"iss": "issuer", "aud": "audience", "nonce": "nonce"}
            raise SsoRefused(
                f"id_token_wrong_{claim}" if claim in names else "id_token_invalid",
                f"the ID token's {names.get(claim, claim)} is wrong or missing: {exc}",
            ) from None
        except jose_errors.JoseError as exc:
            raise SsoRefused("id_token_invalid", f"the ID token is not valid: {exc}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise SsoRefused("id_token_wrong_aud", "the ID token was issued for another party")

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        name = claims.get(self.settings.username_claim)
        if not isinstance(name, str) or not name:
            raise SsoRefused(
                "id_token_no_username", f"the ID token has no {self.settings.username_claim!r}"
            )
        groups = claims.get(self.settings.groups_claim, [])
        if not isinstance(groups, list):
            groups = []
        return Identity(
            username=name, subject=str(claims["sub"]), groups=tuple(str(g) for g in groups)
        )

    def _client(self, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.secret,
            token_endpoint_auth_method="client_secret_basic" if self.secret else "none",
            scope=" ".join(self.settings.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.settings.timeout_seconds,
        )

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self.settings.timeout_seconds)
            response.raise_for_status()
            found = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoRefused(
                "sso_unreachable", f"the single sign-on provider cannot be read ({url}): {exc}"
            ) from None
        if not isinstance(found, dict):
            raise SsoRefused("sso_misconfigured", f"{url} is not a JSON object")
        return found
