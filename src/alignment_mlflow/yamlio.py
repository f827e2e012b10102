"""Safe YAML loading for specs and findings.

PyYAML's ``safe_load`` is safe against code execution but not against a billion-laughs document
(aliases expand exponentially once something walks the result), silently keeps the last of two
duplicate keys, and forgets where each value came from. This loader composes the node graph once,
rejects duplicate keys and alias bombs there, records the line of every field path (so a spec
error can say ``spec.yaml:42``), then constructs plain Python data from the same nodes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import yaml

# What a safe YAML or JSON document holds once loaded: the type of a rendered spec or findings
# block until it is written, so a reader of one is told to check a value's kind before using it.
JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
JSONObject: TypeAlias = Mapping[str, JSONValue]

#: What aliases may add beyond the document's own nodes.
MAX_EXPANDED_NODES = 100_000
#: Deeper nesting is refused before composing (specs and findings need fewer than ten levels).
MAX_DEPTH = 100

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


class _TagError(yaml.constructor.ConstructorError):
    """A scalar whose explicit tag does not fit its text (``!!int abc``)."""

    def __init__(self, tag: str, mark: yaml.Mark) -> None:
        self.tag = tag
        super().__init__(None, None, f"value does not match its tag {tag}", mark)


def _guarded(construct: Any) -> Any:
    """A constructor that fails with the node's tag and line, never with the value itself: the
    standard ones raise ``ValueError: invalid literal for int(): '<the value>'`` and the like,
    and a findings value can be PII."""

    def wrapper(loader: Any, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except yaml.YAMLError:
            raise
        except Exception:
            short = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _TagError(short, node.start_mark) from None

    return wrapper


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader, with every standard scalar constructor guarded."""

    yaml_constructors = {
        tag: _guarded(fn) for tag, fn in _BaseLoader.yaml_constructors.items() if tag is not None
    } | {None: _BaseLoader.yaml_constructors[None]}


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    lines: Mapping[str, int] = field(default_factory=dict)


def canonical_json(data: Any) -> str:
    """Sorted-key JSON of loaded YAML, for content hashes.

    YAML keys need not be strings, nor of one type (``{1: a, b: c}``, a date): ``sort_keys``
    then fails. Those documents are hashed with every non-string key written as ``type:value``;
    every other document hashes exactly as plain ``json.dumps`` did, so stored hashes still match.
    """
    try:
        return json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    except TypeError:
        return json.dumps(_str_keys(data), sort_keys=True, default=str, ensure_ascii=False)


def _str_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            (k if isinstance(k, str) else f"{type(k).__name__}:{k}"): _str_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_str_keys(v) for v in value]
    return value


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


def _check_depth(text: str) -> int:
    """Refuse nesting deeper than :data:`MAX_DEPTH` before anything is composed; count aliases.

    libyaml's composer (and every walk over its nodes) recurses once per level: 10,000 levels
    raise ``RecursionError`` and 30,000 crash the process in C. The parser's event stream is
    flat, so a loop with a counter bounds the depth without recursing, for ~10% of a full load.

    libyaml 0.2.6 (PyYAML 6.0.4's wheels) refuses deep nesting itself, and its scanner reads
    ahead, so its error can come before our counter passes the limit. Its words are not our
    contract: when the fast scan stops on a YAML error, the document is scanned again with the
    pure-Python parser (no nesting limit of its own, no recursion), so a document nested past
    our limit gets our one message and line whichever parser noticed first.
    """
    try:
        return _scan_depth(_BaseLoader(text))
    except YamlLoadError as first:
        if _BaseLoader is yaml.SafeLoader or first.message.startswith(_TOO_DEEP):
            raise
        try:
            _scan_depth(yaml.SafeLoader(text))
        except YamlLoadError as second:
            if second.message.startswith(_TOO_DEEP):
                raise second from None
        raise


_TOO_DEEP = "nested more than"


def _scan_depth(loader: yaml.SafeLoader) -> int:
    depth = aliases = 0
    try:
        while True:
            event = loader.get_event()  # type: ignore[no-untyped-call]
            kind = type(event)
            if kind in _OPEN:
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlLoadError(
                        f"{_TOO_DEEP} {MAX_DEPTH} levels deep; a spec or findings file "
                        "needs fewer than ten (a hostile or generated document?)",
                        event.start_mark.line + 1,
                    )
            elif kind in _CLOSE:
                depth -= 1
            elif kind is yaml.AliasEvent:
                aliases += 1
            elif event is None or kind is yaml.StreamEndEvent:
                return aliases
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc) from exc
    except yaml.YAMLError as exc:
        raise YamlLoadError("not valid YAML") from exc
    finally:
        loader.dispose()


_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _yaml_error(exc: yaml.MarkedYAMLError) -> YamlLoadError:
    """The parser's own words and line, without ``str(exc)``'s echo of the document."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    return YamlLoadError(f"not valid YAML: {problem}", mark.line + 1 if mark else None)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_duplicates(node: yaml.MappingNode) -> None:
    seen: dict[Any, int] = {}
    for k, _ in node.value:
        if isinstance(k, yaml.ScalarNode):
            line = k.start_mark.line + 1
            if k.value in seen and k.tag != "tag:yaml.org,2002:merge":
                raise YamlLoadError(
                    f"duplicate key {k.value!r} (first on line {seen[k.value]}); "
                    "each key may appear once in a mapping",
                    line,
                )
            seen[k.value] = line


def _check_nodes(root: yaml.Node, aliases: int) -> None:
    """Reject duplicate keys, and alias bombs when the document has aliases at all.

    Only aliases make a document bigger than its text: without them the node count is bounded by
    the file size limit, so a wide findings file is never mistaken for a billion laughs. With
    them, the expanded size is computed bottom-up with memoised subtree sizes (iteratively), and
    what the aliases add beyond the distinct nodes is bounded by :data:`MAX_EXPANDED_NODES`.
    """
    if not aliases:  # a tree: every node once, no expansion to bound
        todo = [root]
        while todo:
            node = todo.pop()
            if isinstance(node, yaml.MappingNode):
                _check_duplicates(node)
                todo.extend(v for _, v in node.value if not isinstance(v, yaml.ScalarNode))
            elif isinstance(node, yaml.SequenceNode):
                todo.extend(v for v in node.value if not isinstance(v, yaml.ScalarNode))
        return
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    in_progress: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            in_progress.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if aliases and sizes[key] - len(sizes) > MAX_EXPANDED_NODES:
                raise YamlLoadError(
                    f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through "
                    "aliases (a 'billion laughs' document?); write the values out instead of "
                    "using anchors",
                    node.start_mark.line + 1,
                )
            continue
        if key in sizes:
            continue
        if key in in_progress:
            raise YamlLoadError("recursive alias", node.start_mark.line + 1)
        in_progress.add(key)
        if isinstance(node, yaml.MappingNode):
            _check_duplicates(node)
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(_children(node)) if id(c) not in sizes)


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


def _path_at(root: yaml.Node, line: int) -> str:
    """The field path of the deepest node starting on ``line``, for error messages."""
    best = ""
    for path, at in _line_map(root).items():
        if at == line and len(path) >= len(best):
            best = path
    return best


def load_yaml(
    data: bytes | str,
    *,
    source: str | None = None,
    max_bytes: int = 1_048_576,
    with_lines: bool = True,
) -> LoadedYaml:
    """Load one YAML document safely; raise :class:`YamlLoadError` with a line when known.

    Nothing a document can hold escapes as another exception: nesting is bounded before
    composing, alias expansion is bounded, and a scalar that does not fit its explicit tag is
    reported by field and line without its value.
    """
    text = _decode(data, max_bytes)
    aliases = _check_depth(text)
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc) from exc
        except yaml.YAMLError as exc:
            raise YamlLoadError("not valid YAML") from exc
        if root is None:
            return LoadedYaml(None, {})
        _check_nodes(root, aliases)
        try:
            value = loader.construct_document(root)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            where = _path_at(root, line) if line else ""
            field = f"{where}: " if where else ""
            what = (
                f"value does not match its tag {exc.tag}"
                if isinstance(exc, _TagError)
                else f"not valid YAML: {exc.problem or exc.context}"
            )
            raise YamlLoadError(field + what, line) from None
        except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
            raise YamlLoadError(f"not valid YAML ({type(exc).__name__})") from None
        return LoadedYaml(value, _line_map(root) if with_lines else {})
    finally:
        loader.dispose()
