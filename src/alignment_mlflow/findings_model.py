"""Pure model of a framework findings file.

The rest of the package sees a findings file only through :class:`FindingsView`, a read-only
summary that deliberately leaves out raw column values (``most_common_value``, ``top_categories``,
``value_counts`` ...), which can hold PII: what is not copied cannot leak into MLflow or Delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
