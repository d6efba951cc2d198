"""Agents: a name, a version, a model, instructions, tools and the policy that governs them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from tether.agents._settings import ModelOptions, RunLimits
from tether.errors import AgentFileError, ConfigurationError, FileIssue
from tether.policy import YamlProblem, line_of, load_with_lines, schema_problems
from tether.tools import Toolset

if TYPE_CHECKING:
    # Pydantic AI is imported when a model is resolved: reading agent files (every
    # ``tether`` command that loads tether.yaml) does not load it.
    from pydantic_ai.models import Model

    from tether.policy import Policy


@dataclass(frozen=True, kw_only=True)
class Agent:
    """An agent tether runs. Its tools are the policy's; the policy decides every call."""

    name: str
    """The agent's name in the policy."""
    policy: Policy
    """The policy that governs it (and names its tools)."""
    model: str | Model = "scripted"
    """A Pydantic AI model or model name (``openai-chat:gpt-4o``, ``anthropic:claude-sonnet-4-5``),
    ``openai-compatible:MODEL@BASE_URL`` for a local server, or ``scripted:PATH``."""
    instructions: str = ""
    version: str = "1"
    base_dir: Path = field(default_factory=Path.cwd)
    """Where relative paths (a scripted model's file) are resolved."""
    model_settings: ModelOptions = field(default_factory=ModelOptions)
    """Sent with every model request: temperature, max tokens, tool choice, timeout."""
    limits: RunLimits = field(default_factory=RunLimits)
    """How many model requests, tool calls and tokens one segment of a run may use."""
    source: str = ""
    """The agent's file, if it came from one (named in messages about its settings)."""

    def __post_init__(self) -> None:
        if self.name not in self.policy.agents:
            known = ", ".join(sorted(self.policy.agents)) or "(none)"
            raise ConfigurationError(
                f"agent {self.name!r} is not in the policy {self.policy.source}; "
                f"it defines: {known}"
            )

    @property
    def tools(self) -> Toolset:
        """The tools the agent is offered: those the policy grants it (default deny)."""
        agent = self.policy.agents[self.name]
        return Toolset(t for t in self.policy.tools if agent.grant_for(t.name) is not None)

    def resolve_model(self) -> Model:
        if not isinstance(self.model, str):
            return self.model
        return resolve_model(self.model, base_dir=self.base_dir)


def resolve_model(spec: str, *, base_dir: Path | None = None) -> Model:
    """The Pydantic AI model a spec names."""
    if spec.startswith("scripted:"):
        from tether.agents._scripted import load_script, scripted_model

        path = Path(spec.removeprefix("scripted:"))
        return scripted_model(
            load_script(path if path.is_absolute() else (base_dir or Path.cwd()) / path)
        )
    if spec.startswith("openai-compatible:"):
        name, _, base_url = spec.removeprefix("openai-compatible:").partition("@")
        if not name or not base_url:
            raise ConfigurationError(
                f"model {spec!r}: write openai-compatible:MODEL@BASE_URL, "
                "e.g. openai-compatible:llama3@http://127.0.0.1:8000/v1"
            )
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        api_key = os.environ.get("OPENAI_API_KEY", "not-needed")
        return OpenAIChatModel(name, provider=OpenAIProvider(base_url=base_url, api_key=api_key))
    from pydantic_ai.models import infer_model

    try:
        return infer_model(spec)
    except Exception as exc:  # unknown provider, missing extra or key
        raise ConfigurationError(f"cannot use model {spec!r}: {exc}") from None


class _AgentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str = "1"
    model: str = "scripted"
    instructions: str = ""
    policy: str
    model_settings: ModelOptions = ModelOptions()
    limits: RunLimits = RunLimits()


def _read_agent_file(path: Path) -> _AgentFile:
    """The agent file's content; :class:`AgentFileError` names each problem and its line."""

    def refused(problems: list[tuple[int | None, str]]) -> AgentFileError:
        return AgentFileError([FileIssue(file=str(path), line=n, message=m) for n, m in problems])

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read agent file {path}: {exc.strerror}") from None
    try:
        data, lines = load_with_lines(text)
    except YamlProblem as exc:
        raise refused([(exc.line, exc.message)]) from None
    if not isinstance(data, dict):
        raise refused([(1, "an agent file is a mapping with at least `name` and `policy`")])
    try:
        return _AgentFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            (line_of(lines, where), message)
            for where, message in schema_problems(exc, data, _AgentFile)
        ]
        raise refused(sorted(problems, key=lambda problem: problem[0] or 0)) from None


def load_agent(path: str | Path, *, policy: Policy | None = None) -> Agent:
    """An agent from YAML: ``name``, ``version``, ``model``, ``instructions``, ``policy``,
    ``model_settings`` and ``limits`` (see :mod:`tether.agents._settings`)."""
    from tether.policy import load_policy

    path = Path(path)
    spec = _read_agent_file(path)
    return Agent(
        name=spec.name,
        version=spec.version,
        model=spec.model,
        instructions=spec.instructions,
        policy=policy or load_policy(path.parent / spec.policy),
        base_dir=path.parent,
        model_settings=spec.model_settings,
        limits=spec.limits,
        source=str(path),
    )
