"""Packages whose public names are imported when first used.

A package lists where each name lives (``{"Runtime": "tether.runtime._runtime"}``, or
``(module, attribute)`` when the public name differs) and takes its module
``__getattr__`` and ``__dir__`` from :func:`lazy_exports`: importing the package
loads none of them; the first use of a name imports its module once, and the name
is a plain attribute from then on.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Where = Mapping[str, str | tuple[str, str]]


def lazy_exports(
    package: str, where: Where, names: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose names live in ``where``."""

    def __getattr__(name: str) -> Any:
        found = where.get(name)
        if found is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = found if isinstance(found, tuple) else (found, name)
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)  # once imported, a plain attribute
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__
