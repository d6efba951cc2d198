"""Connectors: the systems agents act on, as tether tools.

A connector is a module with a function ``toolset(settings: dict) -> Toolset``: it
reads its settings (hosts, credentials by environment variable name, never the
secret itself), and returns tools with full metadata (effect class, resource,
idempotency, preview, reversal, untrusted output). ``tether.yaml`` lists them:

```yaml
connectors:
  - {type: email, settings: {smtp_host: 127.0.0.1, smtp_port: 8025}}
  - {type: openapi, settings: {document: crm.yaml, prefix: crm}}
```

Built-in connectors register exactly as a user's would: ``type`` is a short name
below, or ``package.module`` of your own. ``settings`` always holds ``base_dir``,
the folder of the ``tether.yaml``, to resolve relative paths against.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from tether.errors import ConfigurationError
from tether.tools import Toolset

BUILT_IN = {
    "email": "tether.connectors.email",
    "tryton": "tether.connectors.tryton",
    "openapi": "tether.connectors.openapi",
    "mcp": "tether.connectors.mcp",
}


def build_toolset(kind: str, settings: Mapping[str, Any]) -> Toolset:
    """The tools of one configured connector."""
    module_name = BUILT_IN.get(kind, kind)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f" (install tether[{kind}])" if kind in ("tryton", "mcp") else ""
        raise ConfigurationError(f"cannot load connector {kind!r}: {exc}{hint}") from None
    factory = getattr(module, "toolset", None)
    if not callable(factory):
        raise ConfigurationError(f"connector module {module_name} has no toolset(settings)")
    toolset = factory(dict(settings))
    if not isinstance(toolset, Toolset):
        raise ConfigurationError(f"{module_name}.toolset() returned {type(toolset).__name__}")
    return toolset


__all__ = ["BUILT_IN", "build_toolset"]
