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
```

The ``tether`` command reads ``--config``, else ``TETHER_CONFIG``, else ``./tether.yaml``,
else the demo's (``.tether/demo/tether.yaml``) when the demo has run here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.agents import Agent, load_agent
from tether.approvals import EmailNotifier, Notifier, WebhookNotifier
from tether.connectors import build_toolset
from tether.errors import ConfigurationError
from tether.policy import Policy, load_policy
from tether.runtime import Runtime
from tether.tools import Toolset

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


class ConnectorSettings(_Strict):
    type: str
    """A built-in connector (email, tryton, openapi, mcp) or ``package.module``."""
    settings: dict[str, Any] = {}


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


class Config:
    """A loaded ``tether.yaml``: the policy and agents it names, ready to run."""

    def __init__(self, spec: ConfigFile, path: Path) -> None:
        self.spec = spec
        self.path = path
        self.base = path.parent
        for name, value in spec.env.items():
            os.environ.setdefault(name, value)
        self.connector_tools = Toolset()
        for connector in spec.connectors:
            settings = {"base_dir": str(self.base), **connector.settings}
            for item in build_toolset(connector.type, settings):
                self.connector_tools.add(item)
        self.policy: Policy = load_policy(self._path(spec.policy), extra_tools=self.connector_tools)
        self.agents: list[Agent] = [
            load_agent(self._path(item), policy=self.policy) for item in spec.agents
        ]

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.base / path

    @property
    def database(self) -> str:
        return (
            os.environ.get("TETHER_DATABASE_URL")
            or self.spec.database
            or (f"sqlite:///{self.base / 'tether.db'}")
        )

    @property
    def keys(self) -> str | None:
        """The audit keys folder: like the database, relative to where tether runs."""
        return self.spec.keys

    @property
    def inline(self) -> bool:
        if self.spec.inline is not None:
            return self.spec.inline
        return self.database.startswith("sqlite")

    def notifiers(self) -> list[Notifier]:
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
        return Runtime(
            policy=self.policy,
            agents=self.agents,
            database=self.database,
            keys=self.keys,
            notifiers=self.notifiers(),
            executor_id=executor_id or self.spec.worker.executor_id,
            stale_after_seconds=self.spec.worker.stale_after_seconds,
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


def load_config(path: str | Path | None = None) -> Config:
    found = find_config(path)
    return Config(_read(found), found.resolve())


def state_location(
    database: str | None = None, keys: str | None = None
) -> tuple[str | None, str | None]:
    """The database and key folder a command should use when not told.

    Given values win, then ``TETHER_DATABASE_URL``, then the configuration file's (if
    there is one), else None (the embedded defaults).
    """
    if database or os.environ.get("TETHER_DATABASE_URL"):
        return database or os.environ["TETHER_DATABASE_URL"], keys
    try:
        spec = _read(find_config())
    except ConfigurationError:
        return None, keys
    return spec.database, keys or spec.keys
