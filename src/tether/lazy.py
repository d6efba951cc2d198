"""Packages whose public names are imported when first used, and other packages'
modules whose code runs when first used.

A package lists where each name lives (``{"Runtime": "tether.runtime._runtime"}``, or
``(module, attribute)`` when the public name differs) and takes its module
``__getattr__`` and ``__dir__`` from :func:`lazy_exports`: importing the package
loads none of them; the first use of a name imports its module once, and the name
is a plain attribute from then on.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
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


class _LoadedOnFirstUse(types.ModuleType):
    """A module that runs its code the first time a name is read from it."""

    def __getattr__(self, name: str) -> Any:
        spec = self.__spec__
        if spec is None or spec.loader is None:  # pragma: no cover  # made with both
            raise AttributeError(name)
        self.__class__ = types.ModuleType  # type: ignore[assignment]  # now a plain module
        spec.loader.exec_module(self)
        return getattr(self, name)


def load_on_first_use(name: str, *, within: Sequence[str] | None = None) -> None:
    """Have module ``name`` (``within`` its package's folders) run its code the first
    time a name is read from it, not when it is imported: for a module another
    package imports whenever it is imported, for uses tether never makes.

    Nothing is done when it is imported already or cannot be found.
    (``importlib.util.LazyLoader`` would not do: the import system reads the module's
    ``__spec__``, which would load it at once.)
    """
    if name in sys.modules:
        return
    spec = importlib.machinery.PathFinder.find_spec(name, within)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _LoadedOnFirstUse
    sys.modules[name] = module
