"""Read YAML keeping the line of every value, so errors can point at it."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML has it (seven times the pure-Python one's speed, with
the same nodes and marks), the same safe constructor either way."""


class YamlProblem(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(line, message)
        self.line = line
        self.message = message


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """The document's data, and a map from each value's path to its 1-based line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlProblem(1, "the file is empty; a policy starts with `version: 1`")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlProblem(line, f"not valid YAML: {exc.problem or exc}") from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    _walk(node, (), lines)
    return data, lines


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise YamlProblem(
                    key_node.start_mark.line + 1, f"key {key!r} appears twice in the same mapping"
                )
            seen.add(key)
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines)


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        if (found := lines.get(path[:end])) is not None:
            return found
    return None
