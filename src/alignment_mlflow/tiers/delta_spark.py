"""The tiers table as a metastore table (Unity Catalog on Databricks), written with Spark SQL.

Every statement goes through ``spark.sql``, so each one can be checked by Spark's own parser in
tests even where the Delta jars are missing. The MERGE is Delta's SQL MERGE (the same operation
``DeltaTable.merge`` builds), with the change predicate and a project-scoped delete.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

from alignment_mlflow.errors import ProjectCollisionError, TargetError
from alignment_mlflow.tiers.schema import (
    CHANGE_COLUMNS,
    COLUMNS,
    KEY_COLUMNS,
    TableName,
    add_missing_columns_sql,
    change_predicate,
    collision_message,
    foreign_message,
    foreign_project,
    foreign_shape,
    merge_condition,
    same_content,
    spark_create_table_sql,
    sql_string,
)


def spark_schema() -> Any:
    from pyspark.sql import types as T

    kinds = {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "timestamp": T.TimestampType(),
    }
    return T.StructType(
        [
            T.StructField(c.name, kinds[c.type], c.nullable, metadata={"comment": c.comment})
            for c in COLUMNS
        ]
    )


def build_source(spark: Any, rows: list[dict[str, Any]]) -> Any:
    return spark.createDataFrame([tuple(r[c.name] for c in COLUMNS) for r in rows], spark_schema())


def merge_sql(table: TableName, source_view: str, project: str) -> str:
    return (
        f"MERGE INTO {table.quoted} AS t\nUSING `{source_view}` AS s\n"
        f"ON {merge_condition('t', 's')}\n"
        f"WHEN MATCHED AND ({change_predicate('t', 's')}) THEN UPDATE SET *\n"
        "WHEN NOT MATCHED THEN INSERT *\n"
        f"WHEN NOT MATCHED BY SOURCE AND t.project = {sql_string(project)} THEN DELETE"
    )


def current_rows_sql(table: TableName, project: str) -> str:
    cols = ", ".join(f"`{c}`" for c in (*KEY_COLUMNS, *CHANGE_COLUMNS))
    return f"SELECT {cols} FROM {table.quoted} WHERE project = {sql_string(project)}"


def history_sql(table: TableName, limit: int) -> str:
    """Delta's ``DESCRIBE HISTORY`` as SQL: it runs the same on a classic session and over Spark
    Connect (serverless, standard access), where delta-spark's Python ``DeltaTable`` needs a
    Delta Connect plugin the server may not have."""
    return f"DESCRIBE HISTORY {table.quoted} LIMIT {int(limit)}"


def history(spark: Any, table: TableName, limit: int = 1) -> list[dict[str, Any]]:
    """The table's newest commits, newest first."""
    return [r.asDict(recursive=True) for r in spark.sql(history_sql(table, limit)).collect()]


def _version(spark: Any, table: TableName) -> int:
    """The table's latest version."""
    return int(history(spark, table, 1)[0]["version"])


HISTORY_DEPTH = 50
_COUNT_METRICS = {
    "inserted": "numTargetRowsInserted",
    "updated": "numTargetRowsUpdated",
    "deleted": "numTargetRowsDeleted",
}


def committed_version(
    history: list[dict[str, Any]], *, after: int, project: str, counts: dict[str, int]
) -> int | None:
    """The version our MERGE committed, found in the table's history without commit metadata
    (a SQL MERGE has no writer option for it, and serverless refuses the session conf).

    Ours is the first MERGE after the version we read before it (``after``) whose delete clause
    is scoped to our project and whose row counts are the ones our MERGE returned: Delta records
    every MERGE's clauses in ``operationParameters`` and its counts in ``operationMetrics``
    (``DeltaOperations.Merge``). Never simply the newest: another writer may have committed
    since. ``None`` when no commit fits."""
    scope = f"project = {sql_string(project)}"
    fits = []
    for h in history:
        if str(h.get("operation", "")).upper() != "MERGE" or int(h["version"]) <= after:
            continue
        if scope not in json.dumps(h.get("operationParameters") or {}):
            continue
        metrics = h.get("operationMetrics") or {}
        if all(str(metrics.get(_COUNT_METRICS[k], n)) == str(n) for k, n in counts.items()):
            fits.append(int(h["version"]))
    return min(fits) if fits else None


def _committed_version(
    spark: Any, table: TableName, *, after: int, project: str, counts: dict[str, int]
) -> int:
    rows = history(spark, table, HISTORY_DEPTH)
    found = committed_version(rows, after=after, project=project, counts=counts)
    return found if found is not None else int(rows[0]["version"])


def planned_statements(table: TableName, project: str, source_view: str = "src") -> list[str]:
    """Every SQL statement :func:`merge_tiers` issues, in order (the ALTER only on a table an
    older version created without ``project_name``)."""
    return [
        spark_create_table_sql(table),
        str(add_missing_columns_sql(table, [c.name for c in COLUMNS if c.name != "project_name"])),
        current_rows_sql(table, project),
        merge_sql(table, source_view, project),
    ]


def check_ours(spark: Any, table: TableName) -> list[str]:
    """Refuse a table that is not a tiers table of ours (``schema.foreign_shape``): a view, a
    table of another format, another shape or partitioned. Returns its columns."""
    [detail] = [r.asDict() for r in spark.sql(f"DESCRIBE DETAIL {table.quoted}").collect()]
    schema = spark.table(table.quoted).schema
    problems = foreign_shape([(f.name, f.dataType.simpleString()) for f in schema.fields])
    if str(detail.get("format", "")).lower() != "delta":
        problems.insert(0, f"it is a {detail.get('format')} table, not Delta")
    if detail.get("partitionColumns"):
        problems.append(f"it is partitioned by {list(detail['partitionColumns'])}")
    if problems:
        raise TargetError(foreign_message(str(table), problems))
    return [f.name for f in schema.fields]


def project_rows(spark: Any, table: TableName, project: str) -> list[dict[str, Any]]:
    """The rows under a project slug (with their project names), none when there is no table;
    a table that is not ours is refused."""
    if not spark.catalog.tableExists(str(table)):
        return []
    if "project_name" not in check_ours(spark, table):
        return []
    sql = f"SELECT DISTINCT project_name FROM {table.quoted} WHERE project = {sql_string(project)}"
    return [r.asDict() for r in spark.sql(sql).collect()]


def current_version(spark: Any, table: TableName) -> int | None:
    if not spark.catalog.tableExists(str(table)):
        return None
    return _version(spark, table)


def merge_tiers(
    spark: Any,
    table: TableName,
    rows: list[dict[str, Any]],
    *,
    project: str,
    project_name: str,
    commit_metadata: dict[str, str],
    max_attempts: int,
) -> tuple[int, bool, dict[str, int]]:
    """MERGE the rows for ``project``; returns (version, changed, counts). ``commit_metadata``
    is not written: a SQL MERGE has no writer option for it and serverless refuses the session
    conf, so our commit is found by :func:`committed_version`; the run id is in every row."""
    del commit_metadata
    spark.sql(spark_create_table_sql(table))
    # Checked at validation too; here for callers of write_tiers.
    alter = add_missing_columns_sql(table, check_ours(spark, table))
    if alter:
        spark.sql(alter)
    for attempt in range(1, max_attempts + 1):
        current = [r.asDict() for r in spark.sql(current_rows_sql(table, project)).collect()]
        other = foreign_project(current, project_name)
        if other is not None:
            raise ProjectCollisionError(collision_message(str(table), project, project_name, other))
        if same_content(current, rows):
            return _version(spark, table), False, {}
        before = _version(spark, table)
        view = f"alignment_tiers_src_{uuid.uuid4().hex}"
        build_source(spark, rows).createOrReplaceTempView(view)
        try:
            metrics = spark.sql(merge_sql(table, view, project)).collect()
        except Exception as exc:
            if "Concurrent" not in type(exc).__name__ + str(exc) or attempt == max_attempts:
                raise
            time.sleep(random.uniform(0.1, 0.5) * attempt)
            continue
        finally:
            spark.catalog.dropTempView(view)
        counts: dict[str, int] = {}
        if metrics:
            m = metrics[0].asDict()
            counts = {
                "inserted": int(m.get("num_inserted_rows", 0)),
                "updated": int(m.get("num_updated_rows", 0)),
                "deleted": int(m.get("num_deleted_rows", 0)),
            }
        version = _committed_version(spark, table, after=before, project=project, counts=counts)
        return version, True, counts
    raise AssertionError("unreachable")  # pragma: no cover
