"""What a findings file already says before we write: a notebook block we are about to replace,
and where an earlier alignment went.

Both are warnings, not errors: replacing the notebook's block with the spec's is the point of a
run, and a new store is sometimes wanted. But neither may happen silently: a stakeholder's
hand-written block disappears, or (with the defaults, which are relative to the working
directory) a rerun from another folder starts a second MLflow store and a second tiers table.
Pure: no I/O; the caller passes resolved values (and ``cwd`` to resolve relative ones).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from alignment_mlflow.redact import redact_uri
from alignment_mlflow.spec.model import plain

#: The keys the framework's notebook writes under ``metadata`` (chapter 9), in its order.
NOTEBOOK_KEYS = ("business_context", "success_metrics", "deployment_requirements")

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@?#]*@")


def replaced_notebook_block(existing_metadata: Any, updates: Mapping[str, Any]) -> list[str]:
    """The notebook keys (``business_context``, ``success_metrics``, ``deployment_requirements``)
    the findings already carry with other content than ``updates``, when no alignment of ours
    wrote them: that block came from the notebook or a person, and the run will replace it.

    Empty when ``metadata`` is missing, ``null`` or not a mapping, when our ``alignment`` block
    is there (the keys are ours from an earlier run), or when the content is the same (compared
    as the JSON values we write, so a date and its ISO string are the same).
    """
    if not isinstance(existing_metadata, Mapping) or _is_ours(existing_metadata.get("alignment")):
        return []
    return [
        key
        for key in NOTEBOOK_KEYS
        if key in existing_metadata
        and key in updates
        and plain(existing_metadata[key]) != plain(updates[key])
    ]


def _is_ours(block: Any) -> bool:
    return isinstance(block, Mapping) and "spec_sha256" in block


def changed_destinations(
    existing_alignment: Any,
    tracking_uri: str,
    tiers_table: str,
    *,
    cwd: str | None = None,
) -> list[str]:
    """Human warnings when the findings' ``metadata.alignment`` records a different tracking
    store or tiers table than this run uses.

    ``tracking_uri`` and ``tiers_table`` are what this run will use; relative paths in either (and
    in the record) are resolved against ``cwd`` when given. User info and query strings are
    ignored when comparing (a recorded URI may be redacted) and never shown.
    """
    if not isinstance(existing_alignment, Mapping):
        return []
    warnings = []
    mlflow_refs = _mapping(existing_alignment.get("mlflow"))
    recorded_uri = mlflow_refs.get("tracking_uri")
    if (
        isinstance(recorded_uri, str)
        and recorded_uri.strip()
        and _store_key(recorded_uri, cwd) != _store_key(tracking_uri, cwd)
    ):
        run = mlflow_refs.get("run_id")
        where = f" (run {run})" if isinstance(run, str) and run else ""
        warnings.append(
            f"these findings were aligned with tracking store {_shown(recorded_uri)}{where}, "
            f"but this run uses {_shown(tracking_uri)}: the earlier run stays in the other "
            "store. The default store (./mlflow.db) is relative to the working directory; "
            f"pass --tracking-uri {_shown(recorded_uri)} to keep one store"
        )
    delta_refs = _mapping(existing_alignment.get("delta"))
    recorded_table = delta_refs.get("table")
    if (
        isinstance(recorded_table, str)
        and recorded_table.strip()
        and _table_key(recorded_table, cwd) != _table_key(tiers_table, cwd)
    ):
        version = delta_refs.get("version")
        at = f" (version {version})" if isinstance(version, int) else ""
        warnings.append(
            f"these findings record tiers table {_shown(recorded_table)}{at}, but this run "
            f"writes {_shown(tiers_table)}: the project's earlier tiers stay in the other "
            "table. The default table (./alignment_delta/intervention_tiers) is relative to "
            f"the working directory; pass --tiers-table {_shown(recorded_table)} to keep one "
            "table"
        )
    return warnings


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _shown(uri: str) -> str:
    """A URI as a message may show it: no user info, no query string (either may hold a secret)."""
    return redact_uri(uri.strip()).split("?", 1)[0]


def _path_key(path: str, cwd: str | None) -> str:
    if cwd is not None and not path.startswith("/") and not path.startswith("~"):
        path = posixpath.join(cwd, path)
    return posixpath.normpath(path)


def _store_key(uri: str, cwd: str | None) -> str:
    """``uri`` reduced to what identifies the store."""
    uri = _USERINFO.sub(r"\1", uri.strip()).split("?", 1)[0].split("#", 1)[0]
    for prefix in ("sqlite:///", "file://"):
        if uri.startswith(prefix):
            return prefix + _path_key(uri[len(prefix) :], cwd)
    if uri != "databricks" and "://" not in uri and ":" not in uri.split("/", 1)[0]:  # a folder
        return "file://" + _path_key(uri, cwd)
    return uri.rstrip("/")


def _table_key(table: str, cwd: str | None) -> str:
    """``table`` reduced to what identifies it: a path (``file://`` or not) or a URI as a path, a
    Unity Catalog name without case."""
    table = _USERINFO.sub(r"\1", table.strip()).split("?", 1)[0]
    if table.startswith("file://"):
        table = table[len("file://") :]
    if "://" in table or table.startswith("dbfs:"):
        return table.rstrip("/")
    if "/" not in table and table.count(".") == 2:
        return table.replace("`", "").casefold()
    return _path_key(table, cwd)


def describe_replaced(keys: Sequence[str], location: str) -> str:
    """The one-line warning for :func:`replaced_notebook_block`'s keys."""
    return (
        f"{location} already has {', '.join('metadata.' + k for k in keys)} not written by "
        "alignment-mlflow (the notebook's, or edited by hand); this run replaces "
        f"{'it' if len(keys) == 1 else 'them'} with the spec's values"
    )
