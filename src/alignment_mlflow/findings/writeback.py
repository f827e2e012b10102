"""Writing our keys back under a findings file's ``metadata``, touching no other byte.

The framework loads findings with a strict dataclass and its own dump options, so only the
``metadata`` block is re-dumped and spliced into the user's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from alignment_mlflow.spec.model import plain, plain_dict
from alignment_mlflow.spec.render import source_sections
from alignment_mlflow.yamlio import canonical_json

if TYPE_CHECKING:
    from alignment_mlflow.spec.model import AlignmentSpec


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


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
    layout), the whole document is dumped as the framework would.
    """
    if data is not None and _unchanged(data.get("metadata"), updates):
        return text
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
    block = _dump({"metadata": meta})

    keys = [k for k, _ in root.value]
    new_text = None
    for i, key in enumerate(keys):
        if isinstance(key, yaml.ScalarNode) and key.value == "metadata":
            start = key.start_mark.index
            end = keys[i + 1].start_mark.index if i + 1 < len(keys) else len(text)
            new_text = text[:start] + block + text[end:]
            break
    else:
        if text.endswith("\n"):
            new_text = text + block
    if new_text is not None:
        try:
            check = yaml.load(new_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            if check == expected:
                return new_text
        except yaml.YAMLError:
            pass
    return _dump(expected)


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
