"""Agent definitions and the models that drive them.

Names are imported when first used: reading an agent file does not load Pydantic AI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.agents._agent import Agent, load_agent, resolve_model
    from tether.agents._scripted import (
        Script,
        ScriptedCall,
        ScriptedTurn,
        load_script,
        model_tool_name,
        scripted_model,
        tool_name_from_model,
    )
    from tether.agents._settings import ModelOptions, RunLimits, limit_message

_WHERE: dict[str, str] = {
    "Agent": "tether.agents._agent",
    "ModelOptions": "tether.agents._settings",
    "RunLimits": "tether.agents._settings",
    "Script": "tether.agents._scripted",
    "ScriptedCall": "tether.agents._scripted",
    "ScriptedTurn": "tether.agents._scripted",
    "limit_message": "tether.agents._settings",
    "load_agent": "tether.agents._agent",
    "load_script": "tether.agents._scripted",
    "model_tool_name": "tether.agents._scripted",
    "resolve_model": "tether.agents._agent",
    "scripted_model": "tether.agents._scripted",
    "tool_name_from_model": "tether.agents._scripted",
}
"""Where each public name lives: imported when first used."""

__all__ = [
    "Agent",
    "ModelOptions",
    "RunLimits",
    "Script",
    "ScriptedCall",
    "ScriptedTurn",
    "limit_message",
    "load_agent",
    "load_script",
    "model_tool_name",
    "resolve_model",
    "scripted_model",
    "tool_name_from_model",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
