"""Safe YAML loading for specs and findings.

PyYAML's ``safe_load`` is safe against code execution but not against a billion-laughs document
(aliases expand exponentially once something walks the result), silently keeps the last of two
duplicate keys, and forgets where each value came from. This loader composes the node graph once,
rejects duplicate keys and alias bombs there, records the line of every field path (so a spec
error can say ``spec.yaml:42``), then constructs plain Python data from the same nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_EXPANDED_NODES = 100_000

try:  # libyaml is much faster on multi-megabyte findings files
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


class YamlLoadError(Exception):
    """Raised when a document cannot be loaded; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message if line is None else f"line {line}: {message}")


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    lines: Mapping[str, int] = field(default_factory=dict)


def _decode(data: bytes | str, max_bytes: int) -> str:
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > max_bytes:
        raise YamlLoadError(
            f"file is {size:,} bytes, over the limit of {max_bytes:,} bytes; "
            "is this the right file?"
        )
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlLoadError(
            f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from exc


def _check_nodes(root: yaml.Node) -> None:
    """Reject duplicate keys and alias bombs by walking the graph with memoised sizes."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise YamlLoadError("recursive alias", node.start_mark.line + 1)
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    line = k.start_mark.line + 1
                    if k.value in seen and k.tag != "tag:yaml.org,2002:merge":
                        raise YamlLoadError(
                            f"duplicate key {k.value!r} (first on line {seen[k.value]}); "
                            "each key may appear once in a mapping",
                            line,
                        )
                    seen[k.value] = line
                total += size(k) + size(v)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_EXPANDED_NODES:
                    break
        in_progress.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise YamlLoadError(
                f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases "
                "(a 'billion laughs' document?); write the values out instead of using anchors",
                node.start_mark.line + 1,
            )
        sizes[key] = total
        return total

    size(root)


def _line_map(root: yaml.Node) -> dict[str, int]:
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    child = f"{path}.{k.value}" if path else str(k.value)
                    lines.setdefault(child, k.start_mark.line + 1)
                    walk(v, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")

    walk(root, "")
    return lines


def load_yaml(
    data: bytes | str,
    *,
    source: str | None = None,
    max_bytes: int = 1_048_576,
    with_lines: bool = True,
) -> LoadedYaml:
    """Load one YAML document safely; raise :class:`YamlLoadError` with a line when known."""
    text = _decode(data, max_bytes)
    loader = _BaseLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            raise YamlLoadError(
                f"not valid YAML: {problem}", mark.line + 1 if mark else None
            ) from exc
        except yaml.YAMLError as exc:
            raise YamlLoadError(f"not valid YAML: {exc}") from exc
        if root is None:
            return LoadedYaml(None, {})
        _check_nodes(root)
        try:
            value = loader.construct_document(root)
        except yaml.YAMLError as exc:
            raise YamlLoadError(f"not valid YAML: {exc}") from exc
        return LoadedYaml(value, _line_map(root) if with_lines else {})
    finally:
        loader.dispose()
