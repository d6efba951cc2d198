"""The operator surface: one facade for the decisions, queries and operator actions
that the CLI, the console and the gateway offer, each decision made by an actor.

Names are imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.service._preview import readable_preview
    from tether.service._service import ALL_AGENTS, Service, StopSwitch

_WHERE: dict[str, str] = {
    "ALL_AGENTS": "tether.service._service",
    "Service": "tether.service._service",
    "StopSwitch": "tether.service._service",
    "readable_preview": "tether.service._preview",
}
"""Where each public name lives: imported when first used."""

__all__ = ["ALL_AGENTS", "Service", "StopSwitch", "readable_preview"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__
