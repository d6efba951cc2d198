"""``tether.yaml``: where the database, the policy, the agents and the keys are.

```yaml
database: sqlite:///.tether/tether.db   # TETHER_DATABASE_URL overrides it
policy: policy.yaml                     # paths are relative to this file
agents: [agents/support-desk.yaml]
keys: .tether/keys                      # audit signing keys
notify:
  email: {host: 127.0.0.1, port: 8025, sender: tether@acme.example}
  webhook: {url: "https://hooks.example/approvals", secret_env: TETHER_WEBHOOK_SECRET}
worker: {concurrency: 4}
web:                                    # the console's users (docs/console.md)
  users: {fiona: {password_hash: "$argon2id$...", roles: [approver]}}
```

The ``tether`` command reads ``--config``, else ``TETHER_CONFIG``, else ``./tether.yaml``,
else the demo's (``.tether/demo/tether.yaml``) when the demo has run here.

Reading the file is light; what it names (the policy, agents, connectors, notifiers,
the runtime) is imported only when a command needs it, so a command that only looks
up where the database is starts fast.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import ConfigurationError

if TYPE_CHECKING:
    from tether.agents import Agent
    from tether.approvals import Notifier
    from tether.policy import Policy
    from tether.runtime import Runtime
    from tether.tools import Toolset

KEYS_ENV = "TETHER_AUDIT_KEYS"
"""The audit keys folder (as ``tether.audit`` reads it)."""

CONFIG_ENV = "TETHER_CONFIG"
DEMO_CONFIG = Path(".tether/demo/tether.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailSettings(_Strict):
    host: str
    port: int = 25
    sender: str = "tether@localhost"
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = None
    """The environment variable holding the SMTP password (never the password itself)."""
    console_url: str | None = None


class WebhookSettings(_Strict):
    url: str
    secret_env: str | None = None


class NotifySettings(_Strict):
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None


class WorkerSettings(_Strict):
    concurrency: int = Field(default=4, ge=1)
    sweep_seconds: float = Field(default=5.0, gt=0)
    executor_id: str | None = None
    stale_after_seconds: float = Field(default=30.0, gt=0)
    """A worker silent for this long is taken to be dead; its segments are taken over."""
    poll_seconds: float | None = Field(default=None, gt=0)
    """How often a worker asks the queue for segments nobody started at once (None:
    the runtime's default, ``tether.runtime.DEFAULT_POLL_SECONDS``)."""
    application_name: str | None = Field(default=None, min_length=1)
    """DBOS's application name, so deployments sharing one database keep theirs apart
    (None: ``tether.runtime.DEFAULT_APPLICATION_NAME``)."""


class ConnectorSettings(_Strict):
    type: str
    """A built-in connector (email, tryton, openapi, mcp) or ``package.module``."""
    settings: dict[str, Any] = {}


WebRole = Literal["viewer", "approver", "operator", "auditor"]


class WebUserSettings(_Strict):
    """A person who may log in to the console (``tether serve``)."""

    password_hash: str | None = None
    """An argon2 hash (``tether serve --hash-password`` makes one); never the password."""
    password_env: str | None = None
    """Or: the environment variable holding the password."""
    roles: list[WebRole] = ["viewer"]
    """viewer reads; approver decides (if the policy makes them an approver of the rule);
    operator stops agents and cancels runs; auditor exports the audit trail."""

    @model_validator(mode="after")
    def _one_password(self) -> WebUserSettings:
        if (self.password_hash is None) == (self.password_env is None):
            raise ValueError("give password_hash or password_env (one of them)")
        if self.password_hash is not None and not self.password_hash.startswith("$argon2"):
            raise ValueError(
                "password_hash must be an argon2 hash: make one with `tether serve --hash-password`"
            )
        return self


class WebTokenSettings(_Strict):
    """An API token for the console's JSON API; it acts as ``user``."""

    name: str
    user: str
    sha256: str | None = None
    """The SHA-256 (hex) of the token (``tether serve --new-token`` makes both)."""
    token_env: str | None = None
    """Or: the environment variable holding the token."""

    @model_validator(mode="after")
    def _one_secret(self) -> WebTokenSettings:
        if (self.sha256 is None) == (self.token_env is None):
            raise ValueError("give sha256 or token_env (one of them)")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
            raise ValueError("sha256 must be 64 hex digits: `tether serve --new-token` makes one")
        return self


class WebSettings(_Strict):
    """The operator console: who may log in, and how its sessions are kept."""

    users: dict[str, WebUserSettings] = {}
    tokens: list[WebTokenSettings] = []
    session_secret_env: str | None = None
    """The variable holding the key that signs session cookies (default: a key file
    generated beside the audit keys)."""
    session_max_age_seconds: int = Field(default=8 * 3600, gt=0)
    secure_cookies: bool | None = None
    """Cookies only over https (default: when ``tether serve`` serves https itself)."""
    evals: str = ".tether/evals"
    """Where ``tether eval`` stores its results (relative to where tether runs)."""


class ConfigFile(_Strict):
    database: str | None = None
    policy: str
    agents: list[str] = Field(min_length=1)
    keys: str | None = None
    connectors: list[ConnectorSettings] = []
    notify: NotifySettings = NotifySettings()
    worker: WorkerSettings = WorkerSettings()
    inline: bool | None = None
    """Run segments in the command's own process (default: on SQLite)."""
    env: dict[str, str] = {}
    """Environment variables the tools need (set unless already set)."""
    web: WebSettings = WebSettings()
    """Users, tokens and sessions of the console (``tether serve``)."""


class Config:
    """A loaded ``tether.yaml``: the policy and agents it names, ready to run."""

    def __init__(self, spec: ConfigFile, path: Path) -> None:
        self.spec = spec
        self.path = path
        self.base = path.parent
        self.connector_tools = connector_tools(spec, self.base)
        from tether.agents import load_agent
        from tether.policy import load_policy

        self.policy: Policy = load_policy(self._path(spec.policy), extra_tools=self.connector_tools)
        self.agents: list[Agent] = [
            load_agent(self._path(item), policy=self.policy) for item in spec.agents
        ]

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.base / path

    @property
    def database(self) -> str:
        """``TETHER_DATABASE_URL``, else ``database:``, else ``tether.db`` beside this file."""
        return _database_of(self.spec, self.base)

    @property
    def keys(self) -> str | None:
        """The audit keys folder: ``TETHER_AUDIT_KEYS``, else ``keys:`` (relative to where
        tether runs, like the database), else None (``.tether/keys``)."""
        return os.environ.get(KEYS_ENV) or self.spec.keys

    @property
    def inline(self) -> bool:
        if self.spec.inline is not None:
            return self.spec.inline
        return self.database.startswith("sqlite")

    def notifiers(self) -> list[Notifier]:
        from tether.approvals import EmailNotifier, WebhookNotifier

        notifiers: list[Notifier] = []
        users = self.policy.spec.users

        def address(user: str) -> str | None:
            spec = users.get(user)
            value = spec.attributes.get("email") if spec else None
            return value if isinstance(value, str) else None

        if (email := self.spec.notify.email) is not None:
            notifiers.append(
                EmailNotifier(
                    host=email.host,
                    port=email.port,
                    sender=email.sender,
                    security=email.security,
                    username=email.username,
                    password=os.environ.get(email.password_env) if email.password_env else None,
                    addresses=address,
                    console_url=email.console_url,
                )
            )
        if (hook := self.spec.notify.webhook) is not None:
            secret = os.environ.get(hook.secret_env) if hook.secret_env else None
            notifiers.append(WebhookNotifier(url=hook.url, secret=secret))
        return notifiers

    def runtime(self, *, executor_id: str | None = None) -> Runtime:
        from tether.runtime import Runtime

        worker = self.spec.worker
        tuned: dict[str, Any] = {}
        if worker.poll_seconds is not None:
            tuned["poll_seconds"] = worker.poll_seconds
        if worker.application_name is not None:
            tuned["application_name"] = worker.application_name
        return Runtime(
            policy=self.policy,
            agents=self.agents,
            database=self.database,
            keys=self.keys,
            notifiers=self.notifiers(),
            executor_id=executor_id or worker.executor_id,
            stale_after_seconds=worker.stale_after_seconds,
            **tuned,
        )


def find_config(path: str | Path | None = None) -> Path:
    """The configuration file to use (see the module's docstring)."""
    named = path or os.environ.get(CONFIG_ENV)
    if named:
        if not Path(named).is_file():
            raise ConfigurationError(f"configuration file {named} not found")
        return Path(named)
    for candidate in (Path("tether.yaml"), DEMO_CONFIG):
        if candidate.is_file():
            return candidate
    raise ConfigurationError(
        "no tether.yaml here; pass --config FILE, set TETHER_CONFIG, or run `tether demo` first"
    )


def _read(found: Path) -> ConfigFile:
    try:
        data = yaml.safe_load(found.read_text(encoding="utf-8"))
        return ConfigFile.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"{found} is invalid: {exc}") from None


def connector_tools(spec: ConfigFile, base: Path) -> Toolset:
    """The tools of the connectors ``spec`` names (after setting its ``env:``)."""
    from tether.connectors import build_toolset
    from tether.tools import Toolset

    for name, value in spec.env.items():
        os.environ.setdefault(name, value)
    tools = Toolset()
    for connector in spec.connectors:
        settings = {"base_dir": str(base), **connector.settings}
        for item in build_toolset(connector.type, settings):
            tools.add(item)
    return tools


def load_connector_tools(path: str | Path | None = None) -> Toolset:
    """The tools of the connectors a ``tether.yaml`` names, without loading its policy
    (to check a policy against them: ``tether policy check --config``)."""
    found = find_config(path)
    return connector_tools(_read(found), found.resolve().parent)


def load_config(path: str | Path | None = None) -> Config:
    found = find_config(path)
    return Config(_read(found), found.resolve())


def state_location(
    database: str | None = None, keys: str | None = None
) -> tuple[str | None, str | None]:
    """The database and key folder a command should use when not told: the same as
    the runtime's (:attr:`Config.database`, :attr:`Config.keys`).

    Given values win, then ``TETHER_DATABASE_URL`` / ``TETHER_AUDIT_KEYS``, then the
    configuration file's (if there is one), else None (the embedded defaults).
    """
    keys = keys or os.environ.get(KEYS_ENV)
    if database or os.environ.get("TETHER_DATABASE_URL"):
        return database or os.environ["TETHER_DATABASE_URL"], keys
    try:
        found = find_config()
        spec = _read(found)
    except ConfigurationError:
        return None, keys
    return _database_of(spec, found.resolve().parent), keys or spec.keys


def _database_of(spec: ConfigFile, base: Path) -> str:
    return (
        os.environ.get("TETHER_DATABASE_URL") or spec.database or f"sqlite:///{base / 'tether.db'}"
    )
