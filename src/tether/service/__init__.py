"""The operator surface: one facade for the decisions, queries and operator actions
that the CLI, the console and the gateway offer, each decision made by an actor.

Names are imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
