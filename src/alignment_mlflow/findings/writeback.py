"""Writing our keys back under a findings file's ``metadata``, touching no other byte.

The framework loads findings with a strict dataclass and its own dump options, so only the
``metadata`` block is re-dumped and spliced into the user's text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from alignment_mlflow.spec.model import plain, plain_dict
from alignment_mlflow.spec.render import source_sections
from alignment_mlflow.yamlio import canonical_json

if TYPE_CHECKING:
    from alignment_mlflow.spec.model import AlignmentSpec


class _NoAliasDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes a value shared by two keys out twice: the framework's loaders and its JSON save
    know nothing of anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_NoAliasDumper, default_flow_style=False, sort_keys=False)


_BOM = "\ufeff"
#: Blank and comment-only lines: all YAML allows between a block's last value and the next key.
_COMMENT_LINES = re.compile(r"(?:[ \t]*(?:#[^\r\n]*)?(?:\r\n|\r|\n))*(?:[ \t]*#[^\r\n]*)?")


def _unchanged(old: Any, updates: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` already holds exactly ``updates`` (compared as canonical JSON, so
    ``1`` and ``true`` differ)."""
    if not isinstance(old, Mapping) or any(k not in old for k in updates):
        return False
    new = {k: plain(v) for k, v in updates.items()}
    return canonical_json({k: old[k] for k in updates}) == canonical_json(new)


def apply_metadata(
    text: str, updates: Mapping[str, Any], *, data: Mapping[str, Any] | None = None
) -> str:
    """Set ``updates`` under the top-level ``metadata`` mapping, changing no other byte.

    ``data`` is the document already loaded from ``text`` (by :func:`parse_findings`): passing
    it spares a parse, and when the metadata already holds the updates (a rerun) the text is
    returned as it is without parsing or dumping anything. Otherwise only the ``metadata``
    block is re-dumped (with the framework's own dump options) and spliced into the original
    text; the result is checked by parsing it back. If the splice cannot be verified (an unusual
    layout), the whole document is dumped as the framework would. A byte order mark, the file's
    line endings (CRLF stays CRLF) and the comments between ``metadata`` and the next key are
    kept; comments inside the ``metadata`` block itself are not.
    """
    if data is not None and _unchanged(data.get("metadata"), updates):
        return text
    bom = _BOM if text.startswith(_BOM) else ""
    body = text[len(bom) :]  # libyaml's marks do not count the BOM
    return bom + _apply(body, updates, _newline(body), data)


def _newline(text: str) -> str:
    """The file's line break, from its first line (the framework writes one kind throughout)."""
    lf = text.find("\n")
    if lf > 0 and text[lf - 1] == "\r":
        return "\r\n"
    if lf < 0 and "\r" in text:
        return "\r"
    return "\n"


def _apply(
    text: str, updates: Mapping[str, Any], newline: str, data: Mapping[str, Any] | None
) -> str:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        if data is None and root is not None:
            data = loader.construct_document(root)
    finally:
        loader.dispose()
    if not isinstance(data, Mapping) or not isinstance(root, yaml.MappingNode):
        raise ValueError("findings text is not a mapping")
    old = data.get("metadata")
    if _unchanged(old, updates):
        return text
    meta = dict(old) if isinstance(old, Mapping) else {}
    for key, value in updates.items():
        meta[key] = plain(value)
    expected = dict(data)
    expected["metadata"] = meta
    block = _dump({"metadata": meta}).replace("\n", newline)

    new_text = None
    for i, (key, value) in enumerate(root.value):
        if isinstance(key, yaml.ScalarNode) and key.value == "metadata":
            start = key.start_mark.index
            end = root.value[i + 1][0].start_mark.index if i + 1 < len(root.value) else len(text)
            tail = _trailing_comments(text, _content_end(key, value), end)
            new_text = text[:start] + block + tail + text[end:]
            break
    else:
        if text and not text.endswith(("\n", "\r")):
            text += newline
        new_text = text + block
    try:
        check = yaml.load(new_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if check == expected:
            return new_text
    except yaml.YAMLError:
        pass
    return _dump(expected).replace("\n", newline)


def _content_end(key: yaml.Node, value: yaml.Node) -> int:
    """Where the ``metadata`` entry's last value ends in the text.

    A block collection's own end mark lies at the next key (after any comments), so walk down to
    its last entry; an empty value ends with its key.
    """
    end = key.end_mark.index
    node = value
    while isinstance(node, yaml.CollectionNode) and node.value and not node.flow_style:
        last = node.value[-1]
        if isinstance(node, yaml.MappingNode):
            end = max(end, last[0].end_mark.index)
            node = last[1]
        else:
            node = last
    if node.end_mark.index > node.start_mark.index:
        end = max(end, node.end_mark.index)
    return end


def _trailing_comments(text: str, content_end: int, next_key: int) -> str:
    """The blank and comment lines after the ``metadata`` block, up to the next key: they
    usually describe that key, so they stay above it. Empty when the span holds anything else
    (an alias to earlier content, say): the parse-back check then still guards the splice."""
    if content_end > 0 and text[content_end - 1] not in "\r\n":
        ends = (text.find(c, content_end, next_key) for c in "\r\n")
        breaks = [i for i in ends if i >= 0]
        if not breaks:
            return ""
        content_end = min(breaks) + 1
        if text.startswith("\r\n", content_end - 1):
            content_end += 1
    if content_end > next_key:
        return ""
    tail = text[content_end:next_key]
    return tail if _COMMENT_LINES.fullmatch(tail) else ""


def alignment_metadata(
    spec: AlignmentSpec,
    *,
    spec_dict: Mapping[str, Any],
    constraints: Sequence[Mapping[str, Any]],
    interventions: Sequence[Mapping[str, Any]],
    aligned_at: str,
    package_version: str,
    mlflow_refs: Mapping[str, Any] | None,
    delta_refs: Mapping[str, Any] | None,
    notebook: Mapping[str, Any],
) -> dict[str, Any]:
    """The four keys written under findings ``metadata``: the notebook's three, in its shapes,
    and our ``alignment`` block."""
    block = plain_dict(
        {
            "business_context": notebook["business_context"],
            "success_metrics": notebook["success_metrics"],
            "deployment_requirements": notebook["deployment_requirements"],
            "alignment": {
                "spec": spec_dict,
                "spec_sha256": spec.sha256,
                "spec_source": source_sections(spec),
                "data_constraints": list(constraints),
                "interventions": list(interventions),
                "aligned_at": aligned_at,
                "package_version": package_version,
                "mlflow": dict(mlflow_refs or {}),
                "delta": dict(delta_refs or {}),
            },
        }
    )
    return block
