"""The assignments table on a path or URI, written with delta-rs: one row per customer.

Each plan replaces its project's rows in one commit (``overwrite`` with a ``project = '...'``
predicate on a table partitioned by project), so readers see the old plan or the new one, never a
mix. A plan that already wrote the project's rows (same run, same row count) commits nothing.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds

from alignment_mlflow.economics.report import ASSIGNMENT_COLUMNS, ASSIGNMENTS_COMMENT
from alignment_mlflow.tiers.delta_rs import current_version, open_table
from alignment_mlflow.tiers.schema import sql_string

_ARROW = {
    "string": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(id_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                c.name,
                id_type if c.type == "id" else _ARROW[c.type],
                nullable=c.nullable,
                metadata={"comment": c.comment},
            )
            for c in ASSIGNMENT_COLUMNS
        ]
    )


def already_written(uri: str, *, project: str, run_id: str, rows: int) -> int | None:
    """The table's version when the project's rows are exactly this run's, else None."""
    table = open_table(uri)
    if table is None:
        return None
    data = table.to_pyarrow_dataset()
    mine = ds.field("project") == project
    if data.count_rows(filter=mine) != rows:
        return None
    if data.count_rows(filter=mine & (ds.field("plan_run_id") != run_id)):
        return None
    return int(table.version())


def write(
    uri: str,
    batches: pa.RecordBatchReader,
    *,
    project: str,
    commit_metadata: dict[str, str],
) -> int:
    """Replace the project's rows with ``batches`` (streamed); returns the new version."""
    from deltalake import CommitProperties, write_deltalake

    props = CommitProperties(custom_metadata=commit_metadata)
    if open_table(uri) is None:
        write_deltalake(
            uri,
            batches,
            mode="append",
            partition_by=["project"],
            name="churn_assignments",
            description=ASSIGNMENTS_COMMENT,
            commit_properties=props,
        )
    else:
        write_deltalake(
            uri,
            batches,
            mode="overwrite",
            predicate=f"project = {sql_string(project)}",
            commit_properties=props,
        )
    version = current_version(uri)
    assert version is not None
    return version
