"""Agent definitions and the models that drive them."""

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
