"""``tether.yaml``: where the database, the policy, the agents and the keys are.

```yaml
database: sqlite:///.tether/tether.db   # TETHER_DATABASE_URL overrides it
policy: policy.yaml                     # paths are relative to this file
agents: [agents/support-desk.yaml]
keys: .tether/keys                      # audit signing keys
audit:                                  # where checkpoints are also kept (docs/audit.md)
  witnesses: [{file: /mnt/worm/tether}, {url: "http://witness.internal:7300"}]
notify:
  email: {host: 127.0.0.1, port: 8025, sender: tether@acme.example}
  webhook: {url: "https://hooks.example/approvals", secret_env: TETHER_WEBHOOK_SECRET}
worker: {concurrency: 4}
web:                                    # the console's users (docs/console.md)
  users: {fiona: {password_hash: "$argon2id$...", roles: [approver]}}
```

The ``tether`` command reads ``--config``, else ``TETHER_CONFIG``, else ``./tether.yaml``,
else the demo's (``.tether/demo/tether.yaml``) when the demo has run here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.audit import KEYS_ENV
from tether.errors import ConfigFileError, ConfigIssue, ConfigurationError
from tether.policy import Path_, YamlProblem, line_of, load_with_lines, schema_problems

if TYPE_CHECKING:
    # Imported where they are used: reading tether.yaml (``tether audit verify``,
    # ``tether approvals list``) loads none of what it names until it is built.
    from tether.agents import Agent
    from tether.approvals import Notifier
    from tether.audit import LiveSpans, Witness
    from tether.policy import Policy
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
    poll_seconds: float | None = Field(default=None, gt=0)
    """How often a worker asks the queue for segments nobody started at once (None:
    the runtime's default, ``tether.runtime.DEFAULT_POLL_SECONDS``)."""
    application_name: str | None = Field(default=None, min_length=1)
    """DBOS's application name, so deployments sharing one database keep theirs apart
    (None: ``tether.runtime.DEFAULT_APPLICATION_NAME``)."""


class TelemetrySettings(_Strict):
    """Live OpenTelemetry export (docs/audit.md#live-export)."""

    otlp: bool | None = None
    """Send spans to an OTLP endpoint as calls and runs end: True, False, or (unset)
    when the standard ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` variable is set. The
    exporter reads its endpoint, headers, protocol and timeout from the standard
    ``OTEL_EXPORTER_OTLP_*`` variables."""
    service_name: str = "tether"
    """The spans' ``service.name`` (``OTEL_SERVICE_NAME`` overrides it)."""
    include_content: bool = False
    """Add the (redacted) arguments and results, as the conventions' opt-in
    ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``."""


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


class OidcSettings(_Strict):
    """Single sign-on with an OpenID Connect provider (authorization code with PKCE)."""

    issuer: str
    """The provider's issuer URL; its discovery document is read from
    ``ISSUER/.well-known/openid-configuration``."""
    client_id: str
    client_secret_env: str | None = None
    """The variable holding the client secret (none: a public client, PKCE only)."""
    redirect_url: str | None = None
    """This console's callback, as registered with the provider (default: the
    request's own ``/login/sso/callback``)."""
    scopes: list[str] = ["openid", "profile", "email", "groups"]
    username_claim: str = "preferred_username"
    """The ID-token claim that names the tether user (``sub`` if the provider has no
    user names)."""
    groups_claim: str = "groups"
    roles: dict[str, list[WebRole]] = {}
    """Console roles by group (``groups_claim`` values) or by ``user:NAME``; a user
    whom this maps to no role is refused."""
    label: str = "single sign-on"
    timeout_seconds: float = Field(default=10.0, gt=0)


class LoginLimits(_Strict):
    """How guessing passwords is slowed down and bounded."""

    backoff_after: int = Field(default=3, ge=1)
    """Failures (of an account, or of a client) before each attempt must wait."""
    backoff_seconds: float = Field(default=1.0, gt=0)
    """The first wait; it doubles with each further failure, up to ``backoff_max_seconds``."""
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    lock_after: int = Field(default=10, ge=1)
    """Failures before the account (or client) is locked until an operator clears it."""
    window_seconds: float = Field(default=3600.0, gt=0)
    """Failures older than this are forgotten (a lock stays until cleared)."""
    parallel_hashes: int = Field(default=2, ge=1)
    """Password checks at once (argon2 takes 64 MiB each): the others wait."""
    hash_wait_seconds: float = Field(default=10.0, gt=0)
    """How long a login waits for a free slot before it is refused (503)."""


class WebSettings(_Strict):
    """The operator console: who may log in, and how its sessions are kept."""

    users: dict[str, WebUserSettings] = {}
    tokens: list[WebTokenSettings] = []
    oidc: OidcSettings | None = None
    """Single sign-on (OpenID Connect), besides or instead of passwords."""
    login: LoginLimits = LoginLimits()
    token_max_age_seconds: int = Field(default=30 * 86400, gt=0)
    """How long an API token issued by ``tether login`` stays valid."""
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    """Larger request bodies are refused (413) before anything else is done with them."""
    trusted_proxies: list[str] = []
    """Addresses (or networks, CIDR) of the reverse proxies whose ``X-Forwarded-For``
    names the client; none by default: the peer address is the client."""
    refusal_window_seconds: float = Field(default=60.0, gt=0)
    """Refused unauthenticated requests are recorded once per client and reason in
    each window, with a count (so they cannot flood the audit trail)."""
    url: str | None = None
    """Where the console is served (the default of ``tether login --console``)."""
    session_secret_env: str | None = None
    """The variable holding the key that signs session cookies (default: a key file
    generated beside the audit keys)."""
    session_max_age_seconds: int = Field(default=8 * 3600, gt=0)
    """The absolute maximum age of a console session: activity does not extend it."""
    secure_cookies: bool | None = None
    """Cookies only over https (default: when ``tether serve`` serves https itself)."""
    evals: str = ".tether/evals"
    """Where ``tether eval`` stores its results (relative to where tether runs)."""


class WitnessSettings(_Strict):
    """Where audit checkpoints are sent as they are made (docs/audit.md#witnesses)."""

    file: str | None = None
    """A folder outside the database (relative to this file) that keeps every checkpoint."""
    url: str | None = None
    """A ``tether witness serve`` process."""
    public_key: str | None = None
    """The witness server's public key file (pins its key; else it is asked for it)."""
    timeout_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _one_place(self) -> WitnessSettings:
        if (self.file is None) == (self.url is None):
            raise ValueError("give file (a folder) or url (a tether witness serve), one of them")
        if self.public_key is not None and self.url is None:
            raise ValueError("public_key belongs to a witness server (url)")
        return self


class AuditSettings(_Strict):
    """The audit trail's witnesses."""

    witnesses: list[WitnessSettings] = []
    require_witness: bool = False
    """Refuse to record (and so to act) while a witness has not taken the latest
    checkpoints; by default appends go on and the checkpoints are retried."""

    @model_validator(mode="after")
    def _witness_to_require(self) -> AuditSettings:
        if self.require_witness and not self.witnesses:
            raise ValueError("require_witness needs at least one witness")
        return self

    def build(self, base: Path) -> list[Witness]:
        """The witnesses, paths relative to ``base`` (the configuration file's folder)."""
        built: list[Witness] = []
        for spec in self.witnesses:
            if spec.file is not None:
                from tether.audit import FileWitness

                built.append(FileWitness(_relative(spec.file, base)))
            elif spec.url is not None:
                from tether.audit import ServerWitness

                key = _relative(spec.public_key, base) if spec.public_key else None
                built.append(
                    ServerWitness(spec.url, public_key=key, timeout_seconds=spec.timeout_seconds)
                )
        return built


def _relative(value: str, base: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


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
    audit: AuditSettings = AuditSettings()
    """The audit trail's witnesses."""
    operators: Literal["local", "authenticated"] = "authenticated"
    """``authenticated``: the CLI's decision commands act through the console's API
    as the user of ``tether login``. ``local``: a single-operator deployment, where
    they may also act on the database directly under ``--as USER``, recorded as local."""
    telemetry: TelemetrySettings = TelemetrySettings()
    """Live OpenTelemetry export of the trail."""
    gateway: dict[str, Any] = {}
    """The MCP gateway's settings (``tether gateway``; read by :mod:`tether.gateway`)."""


class Config:
    """A loaded ``tether.yaml``: the policy and agents it names, ready to run."""

    def __init__(self, spec: ConfigFile, path: Path) -> None:
        from tether.agents import load_agent
        from tether.policy import load_policy
        from tether.tools import Toolset

        self.spec = spec
        self.path = path
        self.base = path.parent
        self.toolsets: list[Toolset] = connector_toolsets(spec, self.base)
        """The connectors' toolsets, one per connector (an MCP server's keeps its connection)."""
        self.connector_tools = Toolset(item for toolset in self.toolsets for item in toolset)
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

    def accounts(self) -> set[str]:
        """Every user: the policy's and the console's."""
        return set(self.policy.spec.users) | set(self.spec.web.users)

    def notifiers(self) -> list[Notifier]:
        notifiers: list[Notifier] = []
        users = self.policy.spec.users

        def address(user: str) -> str | None:
            spec = users.get(user)
            value = spec.attributes.get("email") if spec else None
            return value if isinstance(value, str) else None

        if (email := self.spec.notify.email) is not None:
            from tether.approvals import EmailNotifier

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
            from tether.approvals import WebhookNotifier

            secret = os.environ.get(hook.secret_env) if hook.secret_env else None
            notifiers.append(WebhookNotifier(url=hook.url, secret=secret))
        return notifiers

    def telemetry(self) -> LiveSpans | None:
        """The live span export this configuration asks for, or None."""
        from tether.audit import otlp_configured

        settings = self.spec.telemetry
        wanted = otlp_configured() if settings.otlp is None else settings.otlp
        if not wanted:
            return None
        from tether.audit import LiveSpans, otlp_exporter

        return LiveSpans(
            otlp_exporter(),
            service_name=os.environ.get("OTEL_SERVICE_NAME") or settings.service_name,
            include_content=settings.include_content,
        )

    def runtime(self, *, executor_id: str | None = None) -> Runtime:
        from tether.runtime import Runtime

        return Runtime(
            policy=self.policy,
            agents=self.agents,
            database=self.database,
            keys=self.keys,
            notifiers=self.notifiers(),
            executor_id=executor_id or self.spec.worker.executor_id,
            stale_after_seconds=self.spec.worker.stale_after_seconds,
            witnesses=self.spec.audit.build(self.base),
            require_witness=self.spec.audit.require_witness,
            telemetry=self.telemetry(),
            **self._worker_tuning(),
        )

    def _worker_tuning(self) -> dict[str, Any]:
        """The runtime's settings that ``worker:`` sets, when it sets them."""
        worker = self.spec.worker
        tuned: dict[str, Any] = {}
        if worker.poll_seconds is not None:
            tuned["poll_seconds"] = worker.poll_seconds
        if worker.application_name is not None:
            tuned["application_name"] = worker.application_name
        return tuned


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


_MISSING_FIX = {
    "policy": "add `policy: policy.yaml` (the policy file, relative to this one)",
    "agents": "add `agents: [agents/NAME.yaml]` (one file per agent, relative to this one)",
    "host": "add `host:` (the SMTP server's name or address)",
    "url": "add `url:` (where the webhook posts)",
    "type": "add `type:` (email, tryton, openapi, mcp, or package.module)",
    "name": "add `name:`",
    "user": "add `user:` (the console user the token acts as)",
}
"""How to fix a missing required key, by key (the module's docstring shows a whole file)."""
_NEEDED = "`policy:` and `agents:`"


def _read(found: Path) -> ConfigFile:
    """``found`` as a :class:`ConfigFile`; :class:`ConfigFileError` names every problem
    with its line and what to do about it."""
    file = str(found)

    def refused(problems: list[tuple[int | None, str]]) -> ConfigFileError:
        return ConfigFileError([ConfigIssue(file=file, line=ln, message=m) for ln, m in problems])

    try:
        text = found.read_text(encoding="utf-8")
    except OSError as exc:
        raise refused([(None, f"cannot read: {exc.strerror}")]) from None
    if not text.strip():
        raise refused([(1, f"the file is empty; a tether.yaml names at least {_NEEDED}")])
    try:
        data, lines = load_with_lines(text)
    except YamlProblem as exc:
        raise refused([(exc.line, exc.message)]) from None
    if not isinstance(data, dict):
        raise refused([(1, f"a tether.yaml is a mapping with at least {_NEEDED}")])
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            (line_of(lines, path), _with_fix(message, path))
            for path, message in schema_problems(exc, data, ConfigFile)
        ]
        raise refused(sorted(problems, key=lambda problem: problem[0] or 0)) from None


def _with_fix(message: str, path: Path_) -> str:
    if message.startswith("missing required key") and path:
        fix = _MISSING_FIX.get(str(path[-1]), f"add `{path[-1]}:`")
        return f"{message}: {fix}"
    return message


def connector_tools(spec: ConfigFile, base: Path) -> Toolset:
    """The tools of the connectors ``spec`` names (after setting its ``env:``)."""
    from tether.tools import Toolset

    return Toolset(item for toolset in connector_toolsets(spec, base) for item in toolset)


def connector_toolsets(spec: ConfigFile, base: Path) -> list[Toolset]:
    """The toolset of each connector ``spec`` names (after setting its ``env:``)."""
    from tether.connectors import build_toolset

    for name, value in spec.env.items():
        os.environ.setdefault(name, value)
    return [
        build_toolset(connector.type, {"base_dir": str(base), **connector.settings})
        for connector in spec.connectors
    ]


def load_connector_tools(path: str | Path | None = None) -> Toolset:
    """The tools of the connectors a ``tether.yaml`` names, without loading its policy
    (to check a policy against them: ``tether policy check --config``)."""
    found = find_config(path)
    return connector_tools(_read(found), found.resolve().parent)


def read_config_file(path: str | Path | None = None) -> ConfigFile:
    """The ``tether.yaml`` to use (see :func:`find_config`), read and checked, without
    loading its policy, agents or connectors."""
    return _read(find_config(path))


def load_config(path: str | Path | None = None) -> Config:
    found = find_config(path)
    return Config(_read(found), found.resolve())


def audit_witnesses(path: str | Path | None = None) -> list[Witness]:
    """The witnesses the ``tether.yaml`` in use names (none without one), for
    ``tether audit verify``: the configuration is read, its policy is not loaded."""
    try:
        found = find_config(path)
        spec = _read(found)
    except ConfigurationError:
        if path is not None:
            raise
        return []
    return spec.audit.build(found.resolve().parent)


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
