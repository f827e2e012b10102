"""Write a spec's intervention tiers to Delta: the backend is chosen from the target string.

A path or URI (local folder, ``s3://``, ``abfss://``, ``gs://``, ``dbfs:/`` on a cluster) goes to
delta-rs; a table name (``catalog.schema.table``) goes to Spark, because delta-rs cannot write
Unity Catalog managed tables. Cheap to import: the backends load only when writing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from alignment_mlflow.errors import DeltaWriteError, ProjectCollisionError, TargetError
from alignment_mlflow.tables.spark import session_for
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


#: URI schemes delta-rs writes to (its object stores); anything else is refused before a write.
DELTA_RS_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "azure", "r2")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(.*)$")  # two letters or more: not C:\\


def _on_databricks() -> bool:
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def _local_path(target: str) -> Path | None:
    if target.startswith("file://"):
        return Path(target[len("file://") :])
    if _SCHEME.match(target):
        return None
    return Path(os.path.expanduser(target))


def _check_uri(target: str) -> None:
    m = _SCHEME.match(target)
    if not m:
        return
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "dbfs":
        if not _on_databricks():
            raise TargetError(
                f"tiers table {target!r}: dbfs:/ paths are written on a Databricks cluster only; "
                "off a cluster pass a local path or a cloud URI (s3://, abfss://, gs://)"
            )
        return
    if scheme not in DELTA_RS_SCHEMES:
        raise TargetError(
            f"tiers table {target!r}: unsupported scheme {scheme}://; pass a local path, "
            f"catalog.schema.table, or a URI with one of {', '.join(DELTA_RS_SCHEMES)}"
        )
    if not rest.startswith("//") or not rest[2:].strip("/"):
        raise TargetError(
            f"tiers table {target!r} is not a complete URI: expected {scheme}://bucket/path"
        )


def _check_databricks_target(target: str) -> None:
    """On Databricks the driver's disk is ephemeral: a tiers table there would vanish with the
    cluster. Only a table name, a Volume path, DBFS or a cloud URI survive."""
    local = _local_path(target)
    if local is None or str(local).startswith(("/Volumes/", "/dbfs/")):
        return
    raise TargetError(
        f"tiers table {target!r} is on the cluster's local disk, which is deleted with the "
        "cluster: on Databricks pass --tiers-table catalog.schema.table (Unity Catalog) or a "
        "/Volumes/<catalog>/<schema>/<volume>/... path"
    )


def resolved_target(target: str) -> str:
    """The table as it will be recorded: a table name as given, a path made absolute."""
    return target if is_table_name(target) else _uri(target)


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
    _check_uri(target)
    if _on_databricks():
        _check_databricks_target(target)
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


def spark_for(target: str, spark: Any = None) -> Any:
    """The Spark session a table name is written with, found before anything is written:
    the one passed in; the active one; on Databricks the runtime's (a wheel task has one to
    attach to, not yet an active one); off a cluster Databricks Connect's when it is installed.
    ``None`` for paths, which delta-rs writes without Spark."""
    if not is_table_name(target):
        return None
    return session_for(
        f"tiers table {target!r}", spark, instead="pass a path instead, e.g. " + DEFAULT_TIERS_TABLE
    )


def check_project(target: str, spec: AlignmentSpec, *, spark: Any = None) -> None:
    """Refuse, before anything is written, a project whose slug another project already holds
    in the table (the MERGE would delete that project's tiers)."""
    from alignment_mlflow.tiers.schema import collision_message, foreign_project

    slug, name = spec.project_slug, spec.business_context.project_name
    try:
        if is_table_name(target):
            from alignment_mlflow.tiers import delta_spark

            table = parse_table_name(target)
            rows = delta_spark.project_rows(spark_for(target, spark), table, slug)
        else:
            from alignment_mlflow.tiers import delta_rs

            rows = delta_rs.project_rows(_uri(target), slug)
    except TargetError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeltaWriteError(f"reading tiers table {target} failed: {first}") from exc
    other = foreign_project(rows, name)
    if other is not None:
        raise ProjectCollisionError(collision_message(resolved_target(target), slug, name, other))


def tiers_version(target: str, *, spark: Any = None) -> int | None:
    if is_table_name(target):
        from alignment_mlflow.tiers import delta_spark

        return delta_spark.current_version(spark_for(target, spark), parse_table_name(target))
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
    backend: Literal["delta-rs", "spark"]
    merge: dict[str, Any] = {
        "project": project,
        "project_name": spec.business_context.project_name,
        "commit_metadata": commit_metadata,
        "max_attempts": max_attempts,
    }
    if is_table_name(target):
        from alignment_mlflow.tiers import delta_spark

        name = parse_table_name(target)
        session = spark_for(target, spark)
        table, backend = str(name), "spark"
        what = f"writing tiers to {name} with Spark"

        def commit() -> tuple[int, bool, dict[str, int]]:
            return delta_spark.merge_tiers(session, name, rows, **merge)

    else:
        from alignment_mlflow.tiers import delta_rs

        table, backend = _uri(target), "delta-rs"
        what = f"writing tiers to Delta table {table}"

        def commit() -> tuple[int, bool, dict[str, int]]:
            return delta_rs.merge_tiers(table, rows, **merge)

    try:
        version, changed, counts = commit()
    except ProjectCollisionError:
        raise
    except Exception as exc:
        raise DeltaWriteError(f"{what} failed: {exc}") from exc
    return TiersWriteResult(table, version, changed, backend, counts)
