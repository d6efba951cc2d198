"""Whether the environment asks for live OpenTelemetry export (the standard variables).

Apart from :mod:`._otel`, so that deciding it loads no OpenTelemetry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_OTLP_ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def otlp_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the standard OpenTelemetry variables ask for OTLP trace export: an
    ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``, ``OTEL_TRACES_EXPORTER`` not ``none`` and
    ``OTEL_SDK_DISABLED`` not ``true``."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {name.strip() for name in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if "otlp" not in exporters:
        return False
    return any(env.get(name) for name in _OTLP_ENDPOINT_ENVS)
