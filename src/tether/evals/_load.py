"""Load scenario files: YAML with lines, the schema, then checks against the policy.

Every problem is reported with its file and line before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tether.agents import Script, ScriptedTurn, load_script
from tether.config import Config, load_config
from tether.errors import ConfigurationError
from tether.evals._errors import ScenarioError, ScenarioIssue
from tether.evals._matchers import tool_matches
from tether.evals._rest import connector_services
from tether.evals._scenario import ScenarioSpec
from tether.policy import Path_, YamlProblem, line_of, load_with_lines, schema_problems

CONFIG_NAME = "tether.yaml"
SKIPPED_FOLDERS = frozenset({"scripts", "agents"})
"""Folders under a suite whose YAML files are not scenarios (scripted models', agents')."""
SKIPPED_FILES = frozenset({"tether.yaml", "policy.yaml", "policy_test.yaml"})
"""Files under a suite that are its configuration, not scenarios."""


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A loaded, checked scenario, ready to run."""

    id: str
    spec: ScenarioSpec
    file: str
    """The file, as given (relative to where tether runs, when it was)."""
    line: int
    config: Path
    """The ``tether.yaml`` whose policy and agents the scenario runs under."""
    model: str | None
    """The model spec for :meth:`tether.runtime.Runtime.start`, once a script is written
    (``None``: the agent's own; inline turns are in ``script``)."""
    script: Script | None = None
    """Inline scripted turns, written to a file by the runner."""
    tryton: bool = False
    """The configuration has a Tryton connector: each trial gets a fresh Tryton."""
    rest_services: tuple[str, ...] = ()
    """The REST services (``openapi`` connectors) each trial gets a fixture server for."""
    email_sender: str | None = None
    """The sender of the configuration's email connector (None: it has none); each
    trial's mail then goes to a fresh local outbox."""


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    scenarios: list[Scenario]

    def only(self, *, tags: Sequence[str] = (), skip_tags: Sequence[str] = ()) -> Suite:
        """The scenarios with any of ``tags`` (all when none given) and none of
        ``skip_tags``; :class:`ConfigurationError` when that leaves none."""
        wanted, unwanted = set(tags), set(skip_tags)
        kept = [
            scenario
            for scenario in self.scenarios
            if (not wanted or wanted & set(scenario.spec.tags))
            and not unwanted & set(scenario.spec.tags)
        ]
        if not kept:
            known = sorted({tag for scenario in self.scenarios for tag in scenario.spec.tags})
            raise ConfigurationError(
                f"no scenario of {self.name} is left by the tag filters "
                f"(--tag {', '.join(sorted(wanted)) or '-'}, "
                f"--skip-tag {', '.join(sorted(unwanted)) or '-'}); "
                f"tags: {', '.join(known) or '(none)'}"
            )
        return replace(self, scenarios=kept)

    def with_model(self, model: str) -> Suite:
        """Every scenario played by ``model`` (a live model, or ``scripted:FILE``) in place
        of its own scripted turns or model."""
        return replace(
            self,
            scenarios=[replace(item, model=model, script=None) for item in self.scenarios],
        )


def scenario_files(path: Path) -> list[Path]:
    """The scenario files of ``path`` (a file, or a folder searched recursively)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigurationError(f"no scenario file or folder at {path}")
    found = [
        item
        for item in sorted(path.rglob("*"))
        if item.suffix in (".yaml", ".yml")
        and item.is_file()
        and item.name not in SKIPPED_FILES
        and not SKIPPED_FOLDERS.intersection(item.relative_to(path).parts[:-1])
    ]
    if not found:
        raise ConfigurationError(f"no scenario files (*.yaml) under {path}")
    return found


def load_suite(path: str | Path, *, config: str | Path | None = None) -> Suite:
    """Load every scenario under ``path``; :class:`ScenarioError` lists every problem.

    ``config`` replaces each scenario's own ``tether.yaml``.
    """
    root = Path(path)
    files = scenario_files(root)
    configs: dict[Path, Config | str] = {}
    issues: list[ScenarioIssue] = []
    scenarios: list[Scenario] = []
    for file in files:
        loader = _FileLoader(file, configs, Path(config) if config else None)
        scenario = loader.load()
        issues.extend(loader.issues)
        if scenario is not None:
            scenarios.append(scenario)
    seen: dict[str, Scenario] = {}
    for scenario in scenarios:
        if (first := seen.get(scenario.id)) is not None:
            issues.append(
                ScenarioIssue(
                    file=scenario.file,
                    line=scenario.line,
                    message=f"scenario id {scenario.id!r} is also used by {first.file}",
                )
            )
        seen[scenario.id] = scenario
    if issues:
        raise ScenarioError(issues)
    name = root.stem if root.is_file() else root.resolve().name
    return Suite(name=name, scenarios=scenarios)


class _FileLoader:
    def __init__(self, file: Path, configs: dict[Path, Config | str], config: Path | None) -> None:
        self.file = file
        self.configs = configs
        self.override = config
        self.issues: list[ScenarioIssue] = []
        self.lines: dict[Path_, int] = {}

    def problem(self, path: Path_, message: str) -> None:
        line = line_of(self.lines, path) if self.lines else None
        self.issues.append(ScenarioIssue(file=str(self.file), line=line, message=message))

    def load(self) -> Scenario | None:
        data = self._read()
        if data is None:
            return None
        try:
            spec = ScenarioSpec.model_validate(data)
        except ValidationError as exc:
            self._schema_issues(exc, data)
            return None
        config = self._config(spec)
        if config is None:
            return None
        self._check(spec, config)
        model, script = self._model(spec)
        if self.issues:
            return None
        return Scenario(
            id=spec.id or self.file.stem,
            spec=spec,
            file=str(self.file),
            line=1,
            config=config.path,
            model=model,
            script=script,
            tryton=_has_tryton(config),
            rest_services=_rest_services(spec),
            email_sender=_email_sender(config),
        )

    def _read(self) -> Any:
        try:
            text = self.file.read_text(encoding="utf-8")
        except OSError as exc:
            self.problem((), f"cannot read: {exc.strerror}")
            return None
        if not text.strip():
            self.problem((), "the file is empty; a scenario has at least agent, principal, task")
            return None
        try:
            data, self.lines = load_with_lines(text)
        except YamlProblem as exc:
            issue = ScenarioIssue(file=str(self.file), line=exc.line, message=exc.message)
            self.issues.append(issue)
            return None
        if not isinstance(data, dict):
            self.problem((), "a scenario is a mapping with at least agent, principal and task")
            return None
        return data

    def _schema_issues(self, exc: ValidationError, data: Any) -> None:
        for path, message in schema_problems(exc, data, ScenarioSpec):
            self.problem(path, message)

    def _config(self, spec: ScenarioSpec) -> Config | None:
        if self.override is not None:
            path: Path | None = self.override
        elif spec.config is not None:
            path = self.file.parent / spec.config
        else:
            path = _nearest_config(self.file.parent)
        where: Path_ = ("config",) if spec.config else ()
        if path is None or not path.is_file():
            shown = path or f"{CONFIG_NAME} in {self.file.parent} or above"
            self.problem(where, f"no tether configuration found ({shown}); set `config:`")
            return None
        key = path.resolve()
        if key not in self.configs:
            try:
                self.configs[key] = load_config(key)
            except ConfigurationError as exc:
                self.configs[key] = str(exc)
        loaded = self.configs[key]
        if isinstance(loaded, str):
            self.problem(where, f"cannot load {path}: {loaded}")
            return None
        return loaded

    def _check(self, spec: ScenarioSpec, config: Config) -> None:
        policy = config.policy
        agents = {agent.name for agent in config.agents}
        if spec.agent not in agents:
            self.problem(("agent",), f"unknown agent {spec.agent!r}; agents: {_names(agents)}")
        person = policy.principal(spec.principal)
        if person is None:
            self.problem(
                ("principal",),
                f"unknown principal {spec.principal!r}; users: {_names(policy.spec.users)}",
            )
        elif spec.agent in policy.agents and not policy.agents[spec.agent].may_act_for(person):
            self.problem(("principal",), f"agent {spec.agent} may not act for {spec.principal}")
        self._check_tryton(spec, config)
        self._check_services(spec, config)
        tools = list(policy.tools.names())
        for path, pattern in self._tool_refs(spec):
            if not any(tool_matches(pattern, name) for name in tools):
                self.problem(path, f"unknown tool {pattern!r}; known tools: {_names(tools)}")
        for index, approval in enumerate(spec.expect.approvals):
            for user in approval.approvers:
                if user not in policy.spec.users:
                    self.problem(
                        ("expect", "approvals", index, "as"),
                        f"unknown approver {user!r}; users: {_names(policy.spec.users)}",
                    )

    def _check_tryton(self, spec: ScenarioSpec, config: Config) -> None:
        if _has_tryton(config):
            return
        if spec.state.tryton is not None:
            self.problem(("state", "tryton"), _NO_TRYTON)
        for index, check in enumerate(spec.expect.end_state):
            if check.tryton is not None:
                self.problem(("expect", "end_state", index, "tryton"), _NO_TRYTON)

    def _check_services(self, spec: ScenarioSpec, config: Config) -> None:
        services = [name for name in _openapi_services(config) if name]
        for name in spec.state.rest:
            if name not in services:
                self.problem(("state", "rest", name), _unknown_service(name, services))
        for index, check in enumerate(spec.expect.end_state):
            if check.rest is not None and check.rest.service not in services:
                path = ("expect", "end_state", index, "rest", "service")
                self.problem(path, _unknown_service(check.rest.service, services))
        if spec.state.mailbox is not None and _email_sender(config) is None:
            self.problem(
                ("state", "mailbox"),
                "a mailbox needs an `email` connector in the configuration "
                "(the demo desk's inbox is `state.desk.inbox`)",
            )

    def _tool_refs(self, spec: ScenarioSpec) -> Iterator[tuple[Path_, str]]:
        expect = spec.expect
        sections: list[tuple[str, Iterable[Any]]] = [
            ("forbidden", expect.forbidden),
            ("denied", expect.denied),
            ("approvals", expect.approvals),
        ]
        for index, call in enumerate(expect.actions.calls):
            yield ("expect", "actions", "calls", index, "tool"), call.tool
        for index, pattern in enumerate(expect.actions.ignore):
            yield ("expect", "actions", "ignore", index), pattern
        for name, items in sections:
            for index, item in enumerate(items):
                yield ("expect", name, index, "tool"), item.tool
        turns: list[ScriptedTurn] = (spec.model.turns or []) if spec.model else []
        for turn_index, turn in enumerate(turns):
            for call_index, scripted in enumerate(turn.calls):
                path = ("model", "turns", turn_index, "calls", call_index, "tool")
                yield path, scripted.tool

    def _model(self, spec: ScenarioSpec) -> tuple[str | None, Script | None]:
        model = spec.model
        if model is None:
            return None, None
        if model.turns is not None:
            return None, Script(turns=model.turns, done=model.done)
        if model.script is not None:
            path = (self.file.parent / model.script).resolve()
            try:
                load_script(path)
            except ConfigurationError as exc:
                self.problem(("model", "script"), str(exc))
            return f"scripted:{path}", None
        return model.name, None


_NO_TRYTON = "Tryton state and checks need a `tryton` connector in the configuration"


def _has_tryton(config: Config) -> bool:
    return any(connector.type == "tryton" for connector in config.spec.connectors)


def _openapi_services(config: Config) -> list[str]:
    return connector_services(
        (connector.type, connector.settings) for connector in config.spec.connectors
    )


def _unknown_service(name: str, services: list[str]) -> str:
    if not services:
        return (
            f"unknown REST service {name!r}: REST fixtures and checks need an `openapi` "
            "connector in the configuration"
        )
    return f"unknown REST service {name!r}; openapi connectors: {_names(services)}"


def _rest_services(spec: ScenarioSpec) -> tuple[str, ...]:
    named = set(spec.state.rest)
    named.update(check.rest.service for check in spec.expect.end_state if check.rest)
    return tuple(sorted(named))


def _email_sender(config: Config) -> str | None:
    for connector in config.spec.connectors:
        if connector.type == "email":
            return str(connector.settings.get("sender") or "tether@localhost")
    return None


def _nearest_config(folder: Path) -> Path | None:
    for candidate in (folder.resolve(), *folder.resolve().parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
    return None


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"
