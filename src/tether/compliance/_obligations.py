"""Each obligation the report covers, mapped to tether's controls and the evidence the
deployment (configuration, policy) and the trail (the range's events) hold for it:
the EU AI Act's (``_ai_act.py``) and the OWASP Top 10 for Agentic Applications'
(``_owasp.py``).

Every figure is a field of :class:`DeploymentFacts` or :class:`TrailFacts`, each read
by a query; nothing is written by hand. What a deployment lacks is a gap.
"""

from __future__ import annotations

from collections.abc import Callable

from tether.compliance._ai_act import art_12, art_14, art_19_26_6, art_26_2
from tether.compliance._evidence import Inputs
from tether.compliance._model import Obligation
from tether.compliance._owasp import (
    asi01,
    asi02,
    asi03,
    asi04,
    asi05,
    asi06,
    asi07,
    asi08,
    asi09,
    asi10,
)

OBLIGATIONS: tuple[Callable[[Inputs], Obligation], ...] = (
    art_12,
    art_14,
    art_19_26_6,
    art_26_2,
    asi01,
    asi02,
    asi03,
    asi04,
    asi05,
    asi06,
    asi07,
    asi08,
    asi09,
    asi10,
)

__all__ = ["OBLIGATIONS", "Inputs"]
