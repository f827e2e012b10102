"""Write a spec's intervention tiers to Delta: the backend is chosen from the target string.

A path or URI (local folder, ``s3://``, ``abfss://``, ``gs://``) goes to delta-rs, off Databricks
only; a table name (``catalog.schema.table``) goes to Spark, because delta-rs cannot write Unity
Catalog managed tables, nor commit through the /Volumes or /dbfs mounts. Cheap to import: the
backends load only when writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from alignment_mlflow.errors import DeltaWriteError, ProjectCollisionError, TargetError
from alignment_mlflow.tables.spark import session_for
from alignment_mlflow.tables.targets import DELTA_RS_SCHEMES as DELTA_RS_SCHEMES
from alignment_mlflow.tables.targets import Target as Target
from alignment_mlflow.tables.targets import as_target, read_target
from alignment_mlflow.tables.targets import check_tiers_target as check_tiers_target
from alignment_mlflow.tables.targets import resolve_target as resolve_target
from alignment_mlflow.tables.targets import resolved_target as resolved_target
from alignment_mlflow.tiers.schema import is_table_name, tier_rows

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


def spark_for(target: str | Target, spark: Any = None) -> Any:
    """The Spark session a table name is written with, found before anything is written:
    the one passed in; the active one; on Databricks the runtime's (a wheel task has one to
    attach to, not yet an active one); off a cluster Databricks Connect's when it is installed.
    ``None`` for paths, which delta-rs writes without Spark."""
    given = target if isinstance(target, str) else target.given
    if not (is_table_name(target) if isinstance(target, str) else target.is_table):
        return None
    return session_for(
        f"tiers table {given!r}",
        spark,
        instead="pass a path instead, e.g. " + DEFAULT_TIERS_TABLE,
    )


def check_project(target: str | Target, spec: AlignmentSpec, *, spark: Any = None) -> None:
    """Refuse, before anything is written, a project whose slug another project already holds
    in the table (the MERGE would delete that project's tiers)."""
    from alignment_mlflow.tiers.schema import collision_message, foreign_project

    t = read_target(target)
    slug, name = spec.project_slug, spec.business_context.project_name
    try:
        if t.name is not None:
            from alignment_mlflow.tiers import delta_spark

            rows = delta_spark.project_rows(spark_for(t, spark), t.name, slug)
        else:
            from alignment_mlflow.tiers import delta_rs

            rows = delta_rs.project_rows(t.value, slug)
    except TargetError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeltaWriteError(f"reading tiers table {t.given} failed: {first}") from exc
    other = foreign_project(rows, name)
    if other is not None:
        raise ProjectCollisionError(collision_message(t.value, slug, name, other))


def tiers_version(target: str | Target, *, spark: Any = None) -> int | None:
    t = read_target(target)
    if t.name is not None:
        from alignment_mlflow.tiers import delta_spark

        return delta_spark.current_version(spark_for(t, spark), t.name)
    from alignment_mlflow.tiers import delta_rs

    return delta_rs.current_version(t.value)


def write_tiers(
    target: str | Target,
    spec: AlignmentSpec,
    *,
    findings_path: str,
    run_id: str | None,
    updated_at: datetime | None = None,
    spark: Any = None,
    max_attempts: int = 5,
) -> TiersWriteResult:
    """MERGE the spec's tiers for its project; idempotent (no new version when unchanged).
    A string target is checked and resolved here; a :class:`Target` was at validation."""
    t = as_target(target)
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
    if t.name is not None:
        from alignment_mlflow.tiers import delta_spark

        name = t.name
        session = spark_for(t, spark)
        table, backend = str(name), "spark"
        what = f"writing tiers to {name} with Spark"

        def commit() -> tuple[int, bool, dict[str, int]]:
            return delta_spark.merge_tiers(session, name, rows, **merge)

    else:
        from alignment_mlflow.tiers import delta_rs

        table, backend = t.value, "delta-rs"
        what = f"writing tiers to Delta table {table}"

        def commit() -> tuple[int, bool, dict[str, int]]:
            return delta_rs.merge_tiers(table, rows, **merge)

    try:
        version, changed, counts = commit()
    except TargetError:  # a collision, a table that is not ours: bad input, refused as such
        raise
    except Exception as exc:
        raise DeltaWriteError(f"{what} failed: {exc}") from exc
    return TiersWriteResult(table, version, changed, backend, counts)
