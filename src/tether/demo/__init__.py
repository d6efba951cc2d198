"""The demo: a support desk whose agents act through the gate.

Names are imported when first used: a policy naming ``tether.demo:desk_tools`` loads
the desk's tools, not the demo's story, runtime or services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.demo._company import build_with_progress
    from tether.demo._desk import DESK_ENV, create_desk, desk_path
    from tether.demo._office import office_tools
    from tether.demo._story import run_demo
    from tether.demo._tools import desk_tools

_WHERE: dict[str, str] = {
    "DESK_ENV": "tether.demo._desk",
    "build_with_progress": "tether.demo._company",
    "create_desk": "tether.demo._desk",
    "desk_path": "tether.demo._desk",
    "desk_tools": "tether.demo._tools",
    "office_tools": "tether.demo._office",
    "run_demo": "tether.demo._story",
}
"""Where each public name lives: imported when first used."""

__all__ = [
    "DESK_ENV",
    "build_with_progress",
    "create_desk",
    "desk_path",
    "desk_tools",
    "office_tools",
    "run_demo",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
