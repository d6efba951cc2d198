"""The console's accounts: logins (throttled), sessions and tokens, password changes,
lock-outs, each recorded in the audit trail.

Every request's credential is read here (:meth:`Accounts.session_user`,
:meth:`Accounts.token_user`), so a logout, a revocation, a password change or a role
removed takes effect at the next request. A login is refused before its password is
hashed when its account or client is held (backoff, lock-out), and hashes run a few
at a time.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from tether.audit import AuditEvent, EventType
from tether.config import WebSettings
from tether.service import Service
from tether.web._auth import ClientKind, User, Users, hash_password
from tether.web._credentials import Credential, CredentialRefused, Credentials, Kind, LoginMethod
from tether.web._errors import Refused
from tether.web._refusals import RefusalTally
from tether.web._throttle import Failed, HashSlots, Throttle, account_key, client_key


class Accounts:
    """Logins, sessions, tokens and lock-outs of one console."""

    def __init__(
        self,
        settings: WebSettings,
        users: Users,
        service: Service,
        *,
        clock: Callable[[], _dt.datetime],
    ) -> None:
        self.settings = settings
        self.users = users
        self.service = service
        self.clock = clock
        engine = service.runtime.engine
        self.credentials = Credentials(engine, clock=clock)
        self.throttle = Throttle(engine, settings.login, clock=clock)
        self.slots = HashSlots(settings.login.parallel_hashes, settings.login.hash_wait_seconds)
        self.refusals = RefusalTally(settings.refusal_window_seconds, clock=clock)

    @property
    def console_id(self) -> str:
        return self.credentials.console_id

    # --- recording ----------------------------------------------------------------

    def record(self, kind: EventType, details: dict[str, Any], *, user: User | None = None) -> None:
        actor = user.actor("api" if user.client != "web" else "web").record() if user else None
        self.service.record(AuditEvent(type=kind, run_id="-", details=details, actor=actor))

    def record_unauthenticated(self, client: str, reason: str, details: dict[str, Any]) -> None:
        """An unauthenticated refusal: recorded once per client, reason and window."""
        for item in self.refusals.add(client, reason, details):
            self.service.record_access_refusal(item)

    def flush_refusals(self, *, force: bool = False) -> None:
        for item in self.refusals.flush(force=force):
            self.service.record_access_refusal(item)

    # --- logging in ---------------------------------------------------------------

    def password_login(self, name: str, password: str, *, client: str) -> User:
        """The user, if the password is theirs and neither they nor the client is held.

        Refusals: 429 (wait), 423 (locked until an operator clears it), 503 (too many
        password checks at once), 401 (unknown user or wrong password); all recorded.
        """
        keys = [account_key(name), client_key(client)]
        held = self.throttle.held(keys)
        where = {"account": name, "client": client}
        if held is not None:
            reason = "login_locked" if held.locked else "login_throttled"
            self.record("login.refused", {**where, "refusal": reason, "key": held.key})
            if held.locked:
                raise Refused(
                    423,
                    reason,
                    f"{held.key} is locked after repeated failed logins; an "
                    "operator can clear it (tether unlock)",
                    recorded=True,
                )
            raise Refused(
                429,
                reason,
                f"too many failed logins for {held.key}: wait {held.retry_after:g} s",
                recorded=True,
                retry_after=held.retry_after,
            )
        with self.slots.slot() as had:
            if not had:
                self.record("login.refused", {**where, "refusal": "login_busy"})
                raise Refused(
                    503,
                    "login_busy",
                    "too many logins at once; try again shortly",
                    recorded=True,
                    retry_after=self.settings.login.hash_wait_seconds,
                )
            changed = self.credentials.changed_password(name)
            good = self.users.check_password(name, password, changed=changed)
        user = self.users.get(name) if good else None
        if user is None:
            failed = self.throttle.failed(keys)
            self.record("login.refused", {**where, "refusal": "bad_login", "method": "password"})
            self._record_locks(failed, where)
            raise Refused(401, "bad_login", "unknown user or wrong password", recorded=True)
        self.throttle.succeeded(account_key(name))
        return user

    def _record_locks(self, failed: Failed, where: dict[str, Any]) -> None:
        for key in failed.locked:
            self.record(
                "login.locked", {**where, "key": key, "after": self.settings.login.lock_after}
            )

    def start(
        self,
        user: User,
        *,
        kind: Kind,
        method: LoginMethod,
        client: ClientKind,
        name: str | None = None,
        groups: tuple[str, ...] | None = None,
        address: str = "-",
    ) -> tuple[str, User]:
        """A new session (a browser's) or token (``tether login``'s) for ``user``."""
        max_age = (
            self.settings.session_max_age_seconds
            if kind == "session"
            else self.settings.token_max_age_seconds
        )
        secret, made = self.credentials.issue(
            kind=kind,
            account_name=user.name,
            method=method,
            client=client,
            roles=user.roles,
            max_age=_dt.timedelta(seconds=max_age),
            name=name,
            groups=groups,
        )
        logged = self._user(made)
        self.record(
            "login.succeeded",
            {
                "account": user.name,
                "method": method,
                "kind": kind,
                "credential": made.id,
                "client": address,
                "expires_at": made.expires_at.isoformat(),
            },
            user=logged,
        )
        return secret, logged

    # --- every request ------------------------------------------------------------

    def session_user(self, secret: str) -> User:
        return self._check(secret, "session")

    def token_user(self, token: str) -> User:
        """The user of an issued token (``tts_``) or of a configured one."""
        if not token.startswith("tts_"):
            found = self.users.for_token(token)
            if found is None:
                raise Refused(401, "unknown_credential", "the API token is not valid")
            return found
        return self._check(token, "token")

    def _check(self, secret: str, kind: Kind) -> User:
        try:
            found = self.credentials.check(secret, kind, roles_now=self.roles_now)
        except CredentialRefused as refused:
            if refused.found is not None and refused.reason == "credential_ended":
                self._record_end(refused.found, refused.message)
            raise Refused(401, refused.reason, refused.message) from None
        return self._user(found)

    def roles_now(self, found: Credential) -> frozenset[str] | None:
        """The account's roles today: from ``web.users``, or mapped from its groups."""
        if found.method == "oidc":
            roles = self.users.sso_roles(found.account, found.groups or ())
            return roles or None
        return self.users.roles(found.account)

    def _user(self, found: Credential) -> User:
        return User(
            name=found.account,
            roles=found.roles,
            method=found.method,
            client=found.client,
            credential=found.id,
        )

    def _record_end(self, found: Credential, why: str) -> None:
        self.record(
            "credential.ended",
            {"account": found.account, "credential": found.id, "kind": found.kind, "why": why},
        )

    # --- ending -------------------------------------------------------------------

    def log_out(self, user: User) -> None:
        if user.credential and self.credentials.end(user.credential, "logged out"):
            self.record(
                "credential.ended",
                {"account": user.name, "credential": user.credential, "why": "logged out"},
                user=user,
            )

    def revoke(self, credential_id: str, *, by: User) -> bool:
        """End a session or token: one's own, or anyone's for an operator."""
        owner = None if by.holds(frozenset({"operator"})) else by.name
        ended = self.credentials.end(credential_id, f"revoked by {by.name}", account_name=owner)
        if ended:
            self.record(
                "credential.ended",
                {"credential": credential_id, "why": f"revoked by {by.name}"},
                user=by,
            )
        return ended

    def end_sessions(self, account_name: str, *, by: User) -> int:
        count = self.credentials.end_all(account_name, f"ended by {by.name}")
        self.record(
            "credential.ended",
            {"account": account_name, "count": count, "why": f"all ended by {by.name}"},
            user=by,
        )
        return count

    def change_password(self, user: User, current: str, new: str) -> int:
        """Change ``user``'s password (the current one proves it is them); every session
        and token of the account ends, this one included."""
        self.password_login(user.name, current, client=f"password-change:{user.name}")
        if len(new) < 12:
            raise Refused(422, "weak_password", "the new password needs at least 12 characters")
        with self.slots.slot() as had:
            if not had:
                raise Refused(503, "login_busy", "too many logins at once; try again shortly")
            hashed = hash_password(new)
        ended = self.credentials.change_password(user.name, hashed)
        self.record("password.changed", {"account": user.name, "ended": ended}, user=user)
        return ended

    def unlock(self, key: str, *, by: User) -> bool:
        cleared = self.throttle.clear(key)
        self.record("login.unlocked", {"key": key, "cleared": cleared}, user=by)
        return cleared
