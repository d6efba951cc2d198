"""The shape of the code, kept honest: the import rules docs/architecture.md states.

- no module imports another package's private module (``tether.x._y`` from outside
  ``tether/x/``);
- no two modules import each other, directly or through others (imports inside
  functions and under ``TYPE_CHECKING`` count);
- dependencies point one way: a package imports only packages of lower layers, as
  the layer table of docs/architecture.md lists them;
- every public name docs/architecture.md mentions exists.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "tether"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Import:
    module: str
    """The importing module (``tether.runtime._calls``)."""
    target: str
    """The imported module (``tether.gate`` or ``tether.gate._gate``)."""
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    _module_name(path): path
    for path in sorted(SOURCE.rglob("*.py"))
    if "migrations" not in path.parts
}


def _resolve(name: str) -> str:
    """The longest prefix of ``name`` that is a module of tether (``a.b.C`` → ``a.b``)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def _imports() -> Iterator[Import]:
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("tether"):
                        yield Import(module, _resolve(alias.name), node.lineno)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if not node.module.startswith("tether"):
                    continue
                for alias in node.names:  # a submodule imported by name counts as itself
                    yield Import(module, _resolve(f"{node.module}.{alias.name}"), node.lineno)


IMPORTS = list(_imports())


def _package(module: str) -> str:
    """The top-level package (or module) of tether a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def test_no_module_imports_another_packages_private_module() -> None:
    offences = [
        f"{i.module} (line {i.line}) imports {i.target}"
        for i in IMPORTS
        if _private(i.target)
        and _package(i.target) != _package(i.module)
        and _package(i.target) != "_version"
    ]
    assert offences == []


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for item in IMPORTS:
        if item.module not in (item.target, "tether"):  # the facade imports lazily
            graph[item.module].add(item.target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"modules import each other: {' -> '.join(cycle.args[1])}")


def _layers() -> dict[str, int]:
    """The layer of each package, from the table under "Layers" in docs/architecture.md:
    ``| 3 | `policy` | ... |``; a package may import only lower layers."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for level, names in re.findall(r"^\|\s*(\d+)\s*\|([^|]+)\|", section, re.M):
        for name in re.findall(r"`([a-z_]+)`", names):
            layers[name] = int(level)
    return layers


LAYERS = _layers()


def test_every_package_has_a_documented_layer() -> None:
    packages = {_package(module) for module in MODULES} - {""}
    assert sorted(packages - set(LAYERS)) == []
    assert sorted(set(LAYERS) - packages) == []


def test_dependencies_point_down_the_layers() -> None:
    upward = sorted(
        {
            f"{_package(i.module)} ({LAYERS[_package(i.module)]}) imports "
            f"{_package(i.target)} ({LAYERS[_package(i.target)]}): {i.module} line {i.line}"
            for i in IMPORTS
            if i.module != "tether"
            and _package(i.target)
            and _package(i.target) != _package(i.module)
            and LAYERS[_package(i.target)] >= LAYERS[_package(i.module)]
        }
    )
    assert upward == []


def _documented_names() -> set[str]:
    """Dotted names in backticks in docs/architecture.md that say where something is:
    ``Runtime.approve``, ``tether.runtime.Runtime``, ``CallPath.decide``."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    dotted = r"`((?:tether\.)?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)`"
    names = set(re.findall(dotted, text))
    files = (".yaml", ".md", ".py", ".json", ".db")
    return {
        name
        for name in names
        if (name[0].isupper() or name.startswith("tether."))
        and not name.startswith("TETHER_")  # environment variables
        and not name.endswith(files)
    }


def _exists(name: str) -> bool:
    parts = name.split(".")
    if parts[0] == "tether":
        module = _resolve(name)
        if not module:
            return False
        value: object = importlib.import_module(module)
        rest = parts[len(module.split(".")) :]
    else:
        found = PUBLIC.get(parts[0])
        if found is None:
            return False
        value, rest = found, parts[1:]
    for part in rest:
        if not hasattr(value, part):
            annotations = getattr(value, "__annotations__", {})
            fields = getattr(value, "__dataclass_fields__", {})
            return part in annotations or part in fields
        value = getattr(value, part)
    return True


def _public_classes() -> dict[str, object]:
    """Every name tether's modules define or import (classes, functions, constants)."""
    found: dict[str, object] = {}
    for module in MODULES:
        loaded = importlib.import_module(module)
        for name, value in vars(loaded).items():
            if not name.startswith("__"):
                found.setdefault(name, value)
    return found


PUBLIC = _public_classes()


@pytest.mark.parametrize("name", sorted(_documented_names()))
def test_names_in_the_architecture_doc_exist(name: str) -> None:
    assert _exists(name), f"docs/architecture.md names {name}, which does not exist"
