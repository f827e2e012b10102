"""The tiers table on paths and URIs, written with deltalake (delta-rs): no Spark, no JVM."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError

from alignment_mlflow.errors import ProjectCollisionError, TargetError
from alignment_mlflow.tables.delta_rs import current_version as current_version
from alignment_mlflow.tables.delta_rs import open_table as open_table
from alignment_mlflow.tiers.schema import (
    COLUMNS,
    TABLE_COMMENT,
    TABLE_PROPERTIES,
    change_predicate,
    collision_message,
    foreign_message,
    foreign_project,
    foreign_shape,
    merge_condition,
    same_content,
    sql_string,
)

_ARROW = {
    "string": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_DELTA_TYPES = {  # Delta's primitive type names, for schema changes
    "string": "string",
    "int": "integer",
    "double": "double",
    "boolean": "boolean",
    "timestamp": "timestamp",
}


def arrow_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(c.name, _ARROW[c.type], nullable=c.nullable, metadata={"comment": c.comment})
            for c in COLUMNS
        ]
    )


def check_ours(table: DeltaTable, uri: str) -> None:
    """Refuse a table that is not a tiers table of ours (``schema.foreign_shape``)."""
    have = [
        (f["name"], _type_name(f["type"])) for f in json.loads(table.schema().to_json())["fields"]
    ]
    problems = foreign_shape(have)
    if table.metadata().partition_columns:
        problems.append(f"it is partitioned by {list(table.metadata().partition_columns)}")
    if problems:
        raise TargetError(foreign_message(uri, problems))


def _type_name(kind: Any) -> str:
    return kind if isinstance(kind, str) else str(kind.get("type", "struct"))


def project_rows(uri: str, project: str) -> list[dict[str, Any]]:
    """The rows under a project slug, or none when the table does not exist yet; a table that is
    not ours is refused."""
    table = open_table(uri)
    if table is None:
        return []
    check_ours(table, uri)
    rows: list[dict[str, Any]] = table.to_pyarrow_table(
        filters=[("project", "=", project)]
    ).to_pylist()
    return rows


def _ensure_table(uri: str) -> DeltaTable:
    """Create the table once; a concurrent creator winning the race is fine."""
    table = open_table(uri)
    if table is not None:
        return table
    try:
        return DeltaTable.create(
            uri,
            arrow_schema(),
            mode="ignore",
            name="intervention_tiers",
            description=TABLE_COMMENT,
            configuration=TABLE_PROPERTIES,
        )
    except (CommitFailedError, DeltaError):
        table = open_table(uri)
        if table is None:
            raise
        return table


def _add_missing_columns(table: DeltaTable) -> DeltaTable:
    """A table an older version created lacks later nullable columns (``project_name``): add
    them, as ``ALTER TABLE ... ADD COLUMNS`` does on Spark, so the MERGE can name them."""
    from deltalake.schema import Field, PrimitiveType

    have = {f.name for f in table.schema().fields}
    missing = [c for c in COLUMNS if c.name not in have]
    if missing:
        fields = [
            Field(
                c.name,
                PrimitiveType(_DELTA_TYPES[c.type]),
                nullable=True,
                metadata={"comment": c.comment},
            )
            for c in missing
        ]
        table.alter.add_columns(fields)
    return table


def merge_tiers(
    uri: str,
    rows: list[dict[str, Any]],
    *,
    project: str,
    project_name: str,
    commit_metadata: dict[str, str],
    max_attempts: int,
) -> tuple[int, bool, dict[str, int]]:
    """MERGE the project's tiers; returns (version, changed, counts). Retries commit conflicts."""
    source = pa.Table.from_pylist(rows, schema=arrow_schema())
    for attempt in range(1, max_attempts + 1):
        table = _ensure_table(uri)
        check_ours(table, uri)  # checked at validation too; here for callers of write_tiers
        table = _add_missing_columns(table)
        current = table.to_pyarrow_table(filters=[("project", "=", project)]).to_pylist()
        other = foreign_project(current, project_name)
        if other is not None:
            raise ProjectCollisionError(collision_message(uri, project, project_name, other))
        if same_content(current, rows):
            unchanged: dict[str, int] = {"inserted": 0, "updated": 0, "deleted": 0}
            return int(table.version()), False, unchanged
        try:
            metrics = (
                table.merge(
                    source,
                    predicate=merge_condition("target", "source"),
                    source_alias="source",
                    target_alias="target",
                    commit_properties=CommitProperties(custom_metadata=commit_metadata),
                )
                .when_matched_update_all(predicate=change_predicate("target", "source"))
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(
                    predicate=f"target.project = {sql_string(project)}"
                )
                .execute()
            )
        except CommitFailedError:
            if attempt == max_attempts:
                raise
            time.sleep(random.uniform(0.05, 0.2) * attempt)
            continue
        # After execute() the table object is at the version this MERGE committed; reloading it
        # (update_incremental) would report another writer's newer commit instead.
        counts = {
            "inserted": int(metrics.get("num_target_rows_inserted", 0)),
            "updated": int(metrics.get("num_target_rows_updated", 0)),
            "deleted": int(metrics.get("num_target_rows_deleted", 0)),
        }
        return int(table.version()), True, counts
    raise AssertionError("unreachable")  # pragma: no cover


def history_metadata(uri: str) -> list[dict[str, Any]]:
    """Each commit's version and our custom metadata, newest first (for tests and `show`)."""
    table = DeltaTable(uri)
    out: list[dict[str, Any]] = []
    for h in table.history():
        meta: dict[str, Any] = {
            k: h[k] for k in ("mlflow_run_id", "spec_sha256", "alignment_project") if k in h
        }
        if not meta and isinstance(h.get("userMetadata"), str):
            meta = json.loads(h["userMetadata"])
        out.append({"version": h.get("version"), "operation": h.get("operation"), **meta})
    return out
