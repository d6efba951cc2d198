"""The demo: a support desk whose agents act through the gate."""

from tether.demo._desk import create_desk, desk_path
from tether.demo._tools import desk_tools

__all__ = ["create_desk", "desk_path", "desk_tools"]
