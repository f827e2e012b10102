"""Write a spec's intervention tiers to Delta: the backend is chosen from the target string.

A path or URI (local folder, ``s3://``, ``abfss://``, ``gs://``, ``dbfs:/`` on a cluster) goes to
delta-rs; a table name (``catalog.schema.table``) goes to Spark, because delta-rs cannot write
Unity Catalog managed tables. Cheap to import: the backends load only when writing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from alignment_mlflow.errors import DeltaWriteError, TargetError
from alignment_mlflow.tiers.schema import is_table_name, parse_table_name, tier_rows

if TYPE_CHECKING:
    from alignment_mlflow.spec.model import AlignmentSpec

DEFAULT_TIERS_TABLE = "./alignment_delta/intervention_tiers"


@dataclass(frozen=True)
class TiersWriteResult:
    table: str
    version: int
    changed: bool
    backend: Literal["delta-rs", "spark"]
    counts: dict[str, int] = field(default_factory=dict)


def _local_path(target: str) -> Path | None:
    if target.startswith("file://"):
        return Path(target[len("file://") :])
    if "://" in target or target.startswith("dbfs:"):
        return None
    return Path(os.path.expanduser(target))


def _uri(target: str) -> str:
    if target.startswith("dbfs:") and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "/dbfs/" + target[len("dbfs:") :].lstrip("/")
    local = _local_path(target)
    return str(local.resolve()) if local is not None else target


def check_tiers_target(target: str) -> None:
    """Reject a malformed target before anything is written."""
    if not target.strip():
        raise TargetError("empty tiers table: pass a path or catalog.schema.table")
    if is_table_name(target):
        parse_table_name(target)
        return
    local = _local_path(target)
    if local is None:
        return
    for p in (local, *local.parents):
        if p.exists() and not p.is_dir():
            raise TargetError(
                f"tiers table {target!r}: {p} is a file, expected a folder for a Delta table"
            )
        if p.exists():
            break


def _spark(spark: Any, target: str) -> Any:
    if spark is not None:
        return spark
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        active = None
    else:
        active = SparkSession.getActiveSession()
        if active is None and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
            # A wheel task on Databricks has a session to attach to, not yet an active one.
            active = SparkSession.builder.getOrCreate()
    if active is None:
        raise TargetError(
            f"tiers table {target!r} is a table name, which needs an active Spark session "
            "(a Databricks cluster or job); off Databricks pass a path instead, e.g. "
            "./alignment_delta/intervention_tiers"
        )
    return active


def tiers_version(target: str, *, spark: Any = None) -> int | None:
    if is_table_name(target):
        from alignment_mlflow.tiers import delta_spark

        return delta_spark.current_version(_spark(spark, target), parse_table_name(target))
    from alignment_mlflow.tiers import delta_rs

    return delta_rs.current_version(_uri(target))


def write_tiers(
    target: str,
    spec: AlignmentSpec,
    *,
    findings_path: str,
    run_id: str | None,
    updated_at: datetime | None = None,
    spark: Any = None,
    max_attempts: int = 5,
) -> TiersWriteResult:
    """MERGE the spec's tiers for its project; idempotent (no new version when unchanged)."""
    check_tiers_target(target)
    project = spec.project_slug
    rows = tier_rows(
        spec,
        project=project,
        findings_path=findings_path,
        run_id=run_id,
        updated_at=updated_at or datetime.now(timezone.utc),
    )
    commit_metadata = {
        "mlflow_run_id": run_id or "",
        "spec_sha256": spec.sha256,
        "alignment_project": project,
    }
    if is_table_name(target):
        from alignment_mlflow.tiers import delta_spark

        name = parse_table_name(target)
        session = _spark(spark, target)
        try:
            version, changed, counts = delta_spark.merge_tiers(
                session,
                name,
                rows,
                project=project,
                commit_metadata=commit_metadata,
                max_attempts=max_attempts,
            )
        except Exception as exc:
            raise DeltaWriteError(f"writing tiers to {name} with Spark failed: {exc}") from exc
        return TiersWriteResult(str(name), version, changed, "spark", counts)

    from alignment_mlflow.tiers import delta_rs

    uri = _uri(target)
    try:
        version, changed, counts = delta_rs.merge_tiers(
            uri, rows, project=project, commit_metadata=commit_metadata, max_attempts=max_attempts
        )
    except Exception as exc:
        raise DeltaWriteError(f"writing tiers to Delta table {uri} failed: {exc}") from exc
    return TiersWriteResult(uri, version, changed, "delta-rs", counts)
