"""The demo: a support desk whose agents act through the gate."""

from tether.demo._company import build_with_progress
from tether.demo._desk import DESK_ENV, create_desk, desk_path
from tether.demo._office import office_tools
from tether.demo._story import run_demo
from tether.demo._tools import desk_tools

__all__ = [
    "DESK_ENV",
    "build_with_progress",
    "create_desk",
    "desk_path",
    "desk_tools",
    "office_tools",
    "run_demo",
]
