"""Assembling a gateway from a loaded ``tether.yaml`` and the service it fronts."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from tether.config import Config
from tether.gateway._catalogue import Catalogue
from tether.gateway._gateway import Gateway
from tether.gateway._identity import Identities
from tether.gateway._pins import Pins
from tether.gateway._settings import GatewaySettings, parse_gateway_settings
from tether.service import Service


@dataclass(frozen=True, kw_only=True)
class Assembled:
    """The parts of one gateway process."""

    gateway: Gateway
    identities: Identities
    settings: GatewaySettings
    pins: Pins


def assemble(config: Config, service: Service) -> Assembled:
    """The gateway for ``config``'s catalogue (its connectors), deciding through ``service``.

    The upstream MCP servers' tool definitions as listed on connecting are pinned
    (a new or changed one is quarantined until an operator accepts it).
    """
    settings = parse_gateway_settings(config.spec.gateway)
    pins = Pins(service.engine, service.record)
    catalogue = Catalogue(
        service.policy, pins, config.toolsets, recheck_seconds=settings.recheck_seconds
    )
    catalogue.observe_initial()

    def refused(reason: str) -> None:
        service.record_access_refusal({"surface": "gateway", "reason": "bad-token", "why": reason})

    identities = Identities(settings, service.policy, on_refusal=refused)
    gateway = Gateway(
        service,
        catalogue,
        console_url=settings.console_url,
        repeat_window=_dt.timedelta(seconds=settings.repeat_window_seconds),
    )
    return Assembled(gateway=gateway, identities=identities, settings=settings, pins=pins)
