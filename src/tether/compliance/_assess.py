"""``tether assess``: does a process need an agent, how risky is each of its tools, and
a starter least-privilege policy for it.

From a ``tether.yaml`` the tools are its connectors' (their metadata says what each
does); from a process description (:mod:`tether.compliance._process`) they are its
steps. The starter policy is checked against those tools before it is returned, so
what ``assess`` writes is a policy ``tether policy check`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from tether.compliance._process import ProcessSpec, StepSpec, is_process_file, load_process
from tether.compliance._risk import ToolRisk, classify_step, classify_tool, step_effect
from tether.compliance._starter import starter_policy
from tether.config import find_config, load_config, load_connector_tools
from tether.errors import ConfigurationError, TetherError, ToolCallError
from tether.policy import load_policy_text
from tether.tools import Effect, Tool, Toolset

DEFAULT_AGENT = "assistant"


@dataclass(frozen=True, kw_only=True)
class Assessment:
    """What ``tether assess`` found."""

    subject: str
    """What was assessed: the configuration file, or the process's name."""
    needs_agent: bool
    """False when every tool only reads: a read-only assistant would do."""
    verdict: str
    """The answer, in a sentence or two."""
    tools: tuple[ToolRisk, ...]
    """Each tool's risk profile, in the order found."""
    agent: str
    """The agent the starter policy grants the tools to."""
    policy: str
    """The starter policy's text."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "needs_agent": self.needs_agent,
            "verdict": self.verdict,
            "agent": self.agent,
            "tools": [risk.to_dict() for risk in self.tools],
            "policy": self.policy,
        }


def assess(source: str | Path, *, agent: str | None = None) -> Assessment:
    """Assess a ``tether.yaml`` or a process description file."""
    path = Path(source)
    if not path.is_file():
        raise ConfigurationError(f"{path} not found: give a tether.yaml or a process file")
    if is_process_file(path):
        return assess_process(load_process(path), agent=agent)
    return assess_config(path, agent=agent)


def assess_config(path: str | Path, *, agent: str | None = None) -> Assessment:
    """Assess the tools of the connectors a ``tether.yaml`` configures."""
    found = find_config(path)
    tools, toolsets = _tools_of(found)
    if not len(tools):
        raise ConfigurationError(
            f"{found} configures no connectors and its policy names no toolsets: there are "
            "no tools to assess (describe the process in a file instead: see "
            "docs/compliance.md#assess)"
        )
    name = agent or _first_agent(found) or DEFAULT_AGENT
    risks = tuple(classify_tool(item) for item in tools)
    return _assessment(str(found), risks, name, tools, toolsets=toolsets)


def _tools_of(config: Path) -> tuple[Toolset, tuple[str, ...]]:
    """The tools a configuration's agents can be given: its connectors' and its policy's
    toolsets' (just the connectors' when the policy does not load)."""
    try:
        loaded = load_config(config)
    except TetherError:
        return load_connector_tools(config), ()
    return loaded.policy.tools, tuple(loaded.policy.spec.toolsets)


def assess_process(process: ProcessSpec, *, agent: str | None = None) -> Assessment:
    """Assess a described process, step by step."""
    names = [step.tool_name for step in process.steps]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigurationError(
            f"two steps map to the same tool {', '.join(twice)}: name them apart or set `tool:`"
        )
    risks = tuple(classify_step(step) for step in process.steps)
    tools = Toolset(_described_step(step) for step in process.steps)
    return _assessment(process.process, risks, agent or DEFAULT_AGENT, tools)


def _assessment(
    subject: str,
    risks: tuple[ToolRisk, ...],
    agent: str,
    tools: Toolset,
    *,
    toolsets: tuple[str, ...] = (),
) -> Assessment:
    text = starter_policy(risks, agent=agent, subject=subject, toolsets=toolsets)
    # What we write must check, against the same tools `tether policy check -c` sees.
    load_policy_text(text, file="<starter policy>", tools=tools)
    acting = [risk for risk in risks if risk.effect is not Effect.READ]
    if not acting:
        verdict = (
            "A read-only assistant would do: no step changes anything or sends anything "
            "outside, so answers drawn from these systems (retrieval, RAG) need no agent "
            "and no approvals."
        )
    else:
        held = [r.tool for r in acting if r.control in ("approval", "approval_by_two")]
        verdict = (
            f"An agent is needed: {len(acting)} of {len(risks)} tools change something "
            f"or reach outside ({', '.join(r.tool for r in acting)})."
            + (f" A person confirms each call of {', '.join(held)}." if held else "")
        )
    return Assessment(
        subject=subject,
        needs_agent=bool(acting),
        verdict=verdict,
        tools=risks,
        agent=agent,
        policy=text,
    )


def _first_agent(config: Path) -> str | None:
    """The name of the first agent a ``tether.yaml`` lists (its file's ``name:``)."""
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        first = Path(str((data.get("agents") or [None])[0]))
        path = first if first.is_absolute() else config.resolve().parent / first
        name = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("name")
    except (OSError, yaml.YAMLError, AttributeError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) and name else None


def _described_step(step: StepSpec) -> Tool:
    """A described step declared as a tool (its name, effect, reach), so the starter
    policy can be checked against it; assessing never calls it."""

    def not_connected() -> None:
        raise ToolCallError(
            step.tool_name,
            "a step of a process description, not a connected tool: add the connector "
            "that provides it to tether.yaml",
        )

    return Tool(
        name=step.tool_name,
        function=not_connected,
        description=step.name,
        effect=step_effect(step),
        args_model=_NO_ARGS,
        untrusted_output=step.outside_content,
    )


class _NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


_NO_ARGS = _NoArgs
