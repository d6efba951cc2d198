"""The operator surface: one facade for the decisions, queries and operator actions
that the CLI, the console and the gateway offer, each decision made by an actor."""

from tether.service._preview import readable_preview
from tether.service._service import ALL_AGENTS, Service, StopSwitch

__all__ = ["ALL_AGENTS", "Service", "StopSwitch", "readable_preview"]
