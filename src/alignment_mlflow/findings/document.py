"""Pure model of a framework findings file.

The rest of the package sees a findings file only through :class:`FindingsView`, a read-only
summary that deliberately leaves out raw column values (``most_common_value``, ``top_categories``,
``value_counts`` ...), which can hold PII: what is not copied cannot leak into MLflow or Delta.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from alignment_mlflow.errors import FindingsError
from alignment_mlflow.yamlio import YamlLoadError, canonical_json, load_yaml

if TYPE_CHECKING:
    pass

#: About 10,000 columns of the framework's richest column entries (~6 KB each); 5,000 columns
#: take ~31 MB. Files are read bounded by this (never more), then parsed once.
MAX_FINDINGS_BYTES = 64 * 1024 * 1024
FINDINGS_SUFFIX = "_findings.yaml"
#: The framework's ExplorationFindings fields: its loader rejects any other top-level key.
FRAMEWORK_KEYS = (
    "source_path",
    "source_format",
    "exploration_timestamp",
    "row_count",
    "column_count",
    "memory_usage_mb",
    "columns",
    "target_column",
    "target_type",
    "identifier_columns",
    "datetime_columns",
    "overall_quality_score",
    "critical_issues",
    "warnings",
    "modeling_ready",
    "blocking_issues",
    "metadata",
    "time_series_metadata",
    "text_processing",
    "feature_availability",
    "iteration_id",
    "parent_iteration_id",
    "snapshot_id",
    "snapshot_path",
    "timestamp_scenario",
    "timestamp_strategy",
)
#: The metadata keys this package owns; everything else under metadata belongs to others.
OUR_METADATA_KEYS = ("business_context", "success_metrics", "deployment_requirements", "alignment")


@dataclass(frozen=True)
class ColumnInfo:
    """What checks may know about a column: names, types, counts and dates, never values."""

    name: str
    inferred_type: str
    null_percentage: float | None = None
    distinct_count: int | None = None
    quality_score: float | None = None
    pii_detected: bool = False
    pii_types: tuple[str, ...] = ()
    quality_issue_kinds: tuple[str, ...] = ()  # e.g. ("pii_detected",) from quality_issues
    min_date: str | None = None  # datetime columns only (type_metrics.min_date)
    max_date: str | None = None
    date_range_days: float | None = None


@dataclass(frozen=True)
class FindingsView:
    """A read-only view of one single-dataset findings file."""

    location: str  # where it was read from, as the user would write it
    file_name: str
    dataset_name: str  # file name without "_findings.yaml"
    sha256: str  # of the file's bytes as read
    source_path: str
    source_format: str
    row_count: int | None
    column_count: int | None
    columns: Mapping[str, ColumnInfo]
    target_column: str | None
    identifier_columns: tuple[str, ...]
    datetime_columns: tuple[str, ...]
    overall_quality_score: float | None
    is_aggregated: bool  # name contains "_aggregated"
    granularity: str | None  # time_series_metadata.granularity ("event_level", ...)
    ts_time_span_days: float | None  # time_series_metadata.time_span_days
    ts_time_column: str | None
    aggregated_findings_path: str | None  # time_series_metadata.aggregated_findings_path
    fa_data_start: str | None  # feature_availability.data_start
    fa_data_end: str | None
    fa_time_span_days: float | None
    existing_metadata_keys: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Safe facts for tags, reports and logs (no column values)."""
        return {
            "dataset": self.dataset_name,
            "file": self.file_name,
            "rows": self.row_count,
            "columns": self.column_count,
            "target": self.target_column,
            "identifiers": list(self.identifier_columns),
            "datetime_columns": list(self.datetime_columns),
            "quality_score": self.overall_quality_score,
            "aggregated": self.is_aggregated,
        }


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class FindingsDocument:
    """One findings file as read: its exact text (for byte-preserving writes) and its view."""

    location: str
    text: str
    sha256: str
    view: FindingsView
    data: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def base_sha256(doc: FindingsDocument) -> str:
    """Hash of the findings content without our metadata keys.

    Writing the alignment changes the file's bytes; this hash does not change, so a rerun still
    recognises the same findings (and reuses the same MLflow run). Missing, ``null`` and empty
    ``metadata`` hash alike: the framework writes ``metadata: null`` and our write turns it into a
    mapping holding only our keys, which must still be the same findings.
    """
    data = dict(doc.data)
    meta = data.pop("metadata", None)
    theirs = (
        {k: v for k, v in meta.items() if k not in OUR_METADATA_KEYS}
        if isinstance(meta, Mapping)
        else {}
    )
    if theirs:
        data["metadata"] = theirs
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def dataset_name(file_name: str) -> str:
    return file_name[: -len(FINDINGS_SUFFIX)] if file_name.endswith(FINDINGS_SUFFIX) else file_name


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return str(v) if v is not None and not isinstance(v, Mapping | list) else None


def _strs(v: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in v) if isinstance(v, list) else ()


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _column(name: str, raw: Any) -> ColumnInfo:
    c: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    um: Mapping[str, Any] = _mapping(c.get("universal_metrics"))
    tm: Mapping[str, Any] = _mapping(c.get("type_metrics"))
    raw_issues = c.get("quality_issues")
    issues: list[Any] = raw_issues if isinstance(raw_issues, list) else []
    kinds = tuple(sorted({"pii" for i in issues if "pii" in str(i).lower()}))
    return ColumnInfo(
        name=str(c.get("name") or name),
        inferred_type=str(c.get("inferred_type") or "unknown"),
        null_percentage=_float(um.get("null_percentage")),
        distinct_count=_int(um.get("distinct_count")),
        quality_score=_float(c.get("quality_score")),
        pii_detected=bool(tm.get("pii_detected")),
        pii_types=_strs(tm.get("pii_types")),
        quality_issue_kinds=kinds,
        min_date=_str(tm.get("min_date")),
        max_date=_str(tm.get("max_date")),
        date_range_days=_float(tm.get("date_range_days")),
    )


def _fail(location: str, what: str, fix: str) -> FindingsError:
    return FindingsError(f"{location}: {what}; {fix}")


def parse_findings(data: bytes, location: str) -> FindingsDocument:
    """Check that ``data`` is a single-dataset findings file and build its view."""
    file_name = posixpath.basename(location.rstrip("/"))
    if not data.strip():
        raise _fail(location, "the file is empty", "pass a findings file written by the framework")
    try:
        loaded = load_yaml(data, source=location, max_bytes=MAX_FINDINGS_BYTES, with_lines=False)
    except YamlLoadError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise _fail(location, f"{exc.message}{where}", "pass a findings YAML file") from exc
    d = loaded.data
    if d is None:
        raise _fail(location, "the file is empty (no YAML content)", "pass a findings file")
    if not isinstance(d, Mapping):
        raise _fail(
            location,
            f"expected a YAML mapping, got {type(d).__name__}",
            "pass a *_findings.yaml file written by the framework",
        )
    if "datasets" in d and "source_path" not in d:
        raise _fail(
            location,
            "this is the framework's multi-dataset summary, not a dataset's findings",
            "pass one dataset's *_findings.yaml (or its folder: discovery skips multi_dataset)",
        )
    missing = [k for k in ("source_path", "source_format") if k not in d]
    if missing:
        raise _fail(
            location,
            f"missing {', '.join(missing)}: not a findings file",
            "pass a *_findings.yaml file written by the framework",
        )
    unknown = [str(k) for k in d if k not in FRAMEWORK_KEYS]
    if unknown:
        raise _fail(
            location,
            f"unknown top-level key(s) {', '.join(unknown)}: the framework's loader would reject "
            "this file",
            f"remove them; valid keys are {', '.join(FRAMEWORK_KEYS)}",
        )
    if not isinstance(d.get("columns"), Mapping):
        raise _fail(location, "`columns` is not a mapping", "pass an unmodified findings file")
    meta = d.get("metadata")
    if meta is not None and not isinstance(meta, Mapping):
        raise _fail(
            location,
            f"`metadata` is a {type(meta).__name__}, expected a mapping or null",
            "fix or remove the metadata value",
        )
    ts = _mapping(d.get("time_series_metadata"))
    fa = _mapping(d.get("feature_availability"))
    columns = {str(k): _column(str(k), v) for k, v in d["columns"].items()}
    view = FindingsView(
        location=location,
        file_name=file_name,
        dataset_name=dataset_name(file_name),
        sha256=_sha(data),
        source_path=str(d.get("source_path")),
        source_format=str(d.get("source_format")),
        row_count=_int(d.get("row_count")),
        column_count=_int(d.get("column_count")),
        columns=MappingProxyType(columns),
        target_column=_str(d.get("target_column")),
        identifier_columns=_strs(d.get("identifier_columns")),
        datetime_columns=_strs(d.get("datetime_columns")),
        overall_quality_score=_float(d.get("overall_quality_score")),
        is_aggregated="_aggregated" in file_name,
        granularity=_str(ts.get("granularity")),
        ts_time_span_days=_float(ts.get("time_span_days")),
        ts_time_column=_str(ts.get("time_column")),
        aggregated_findings_path=_str(ts.get("aggregated_findings_path")),
        fa_data_start=_str(fa.get("data_start")),
        fa_data_end=_str(fa.get("data_end")),
        fa_time_span_days=_float(fa.get("time_span_days")),
        existing_metadata_keys=tuple(str(k) for k in (meta or {})),
    )
    return FindingsDocument(location, data.decode("utf-8"), view.sha256, view, d)
