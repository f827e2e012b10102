"""The Spark engine: the same band table as a column expression, aggregation in Spark.

:func:`band_index_column` applies :func:`band_masks` (the very code the Arrow engine and the
scalar reference run) to a Spark ``Column``, so a boundary score lands in the same tier on a
cluster as on a laptop. Validation, tallies and the content digest are Spark aggregations; only
per-tier and per-group totals and at most a few sample ids come back to the driver.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from alignment_mlflow.bands.spark import band_index_column
from alignment_mlflow.bands.table import BandTable, paid_indices
from alignment_mlflow.economics.assignments import HISTORY_LIMIT, check_slug
from alignment_mlflow.economics.core import (
    SAMPLE_IDS,
    ScoresError,
    Tally,
    TopK,
    Validation,
    check_columns,
)
from alignment_mlflow.economics.holdout import HELD_OUT, HOLDOUT_INTERVENTION, TREATED, Holdout
from alignment_mlflow.economics.report import ASSIGNMENT_COLUMNS, ASSIGNMENTS_COMMENT
from alignment_mlflow.errors import TargetError
from alignment_mlflow.outcomes import arms
from alignment_mlflow.tables.names import TableName, sql_string
from alignment_mlflow.tiers.delta_spark import HISTORY_DEPTH, history

_RUN_ID = re.compile(r"[A-Za-z0-9_\-]+")


def _numeric(df: Any, column: str) -> bool:
    from pyspark.sql import types as T

    kind = df.schema[column].dataType
    return isinstance(kind, T.NumericType)


def validate(
    df: Any, *, id_column: str, score_column: str, group_columns: Sequence[str], source: str
) -> tuple[int, str]:
    """Raise :class:`ScoresError` on bad scores; returns (rows, content digest)."""
    from pyspark.sql import functions as F

    validation = Validation(source)
    check_columns(
        validation,
        df.columns,
        id_column=id_column,
        score_column=score_column,
        group_columns=group_columns,
    )
    if not _numeric(df, score_column):
        kind = df.schema[score_column].dataType.simpleString()
        raise ScoresError(
            f"score column {score_column!r} has type {kind}; expected numbers "
            "(churn probabilities in [0, 1]); pass the right --score-column"
        )
    ident, s = F.col(id_column), F.col(score_column).cast("double")
    conditions = {
        "null scores": s.isNull(),
        "NaN scores": F.isnan(s),
        "scores outside [0, 1]": s.isNotNull() & ~F.isnan(s) & ((s < 0.0) | (s > 1.0)),
    }
    aggs = [F.count(F.lit(1)).alias("rows"), F.count_if(ident.isNull()).alias("null ids")]
    aggs += [F.count_if(c).alias(name) for name, c in conditions.items()]
    # An order-independent content digest: the same customers and scores hash the same.
    row_hash = F.xxhash64(ident, s, *[F.col(g) for g in group_columns])
    aggs += [F.sum(row_hash.cast("decimal(38,0)")).alias("h"), F.bit_xor(row_hash).alias("x")]
    got = df.agg(*aggs).collect()[0].asDict()
    if got["rows"] == 0:
        validation.empty()
    validation.add(id_column, "null ids", got["null ids"], ["(row without id)"])
    for name, cond in conditions.items():
        if got[name]:
            ids = [r[0] for r in df.where(cond).select(ident).limit(SAMPLE_IDS).collect()]
            validation.add(score_column, name, got[name], ids)
    dups = df.where(ident.isNotNull()).groupBy(ident).count().where(F.col("count") > 1)
    extra = dups.agg(F.sum(F.col("count") - 1)).collect()[0][0]
    if extra:
        ids = [r[0] for r in dups.select(id_column).limit(SAMPLE_IDS).collect()]
        validation.add(id_column, "duplicate ids (rows beyond the first)", int(extra), ids)
    validation.raise_if_any()
    return int(got["rows"]), f"spark:{got['rows']}:{got['h']}:{got['x']}"


def tally(
    df: Any,
    table: BandTable,
    *,
    score_column: str,
    group_columns: Sequence[str] = (),
) -> tuple[Tally, TopK]:
    """Tier counts and score sums (and group shares) aggregated in Spark; scores validated."""
    from pyspark.sql import functions as F

    s = F.col(score_column).cast("double")
    tiered = df.select(
        band_index_column(table, s).alias("_tier"), s.alias("_score"), *group_columns
    )
    out = Tally.empty(table, group_columns)
    for r in tiered.groupBy("_tier").agg(F.count(F.lit(1)), F.sum("_score")).collect():
        out.add_band(int(r[0]), int(r[1]), float(r[2]))
    paid = F.col("_tier").isin(list(paid_indices(table))).cast("long")
    for g in group_columns:
        for r in tiered.groupBy(g).agg(F.count(F.lit(1)), F.sum(paid)).collect():
            out.add_group(g, r[0], int(r[1]), int(r[2] or 0))

    def top_k(i: int, k: int) -> tuple[float, float]:
        top = tiered.where(F.col("_tier") == i).orderBy(F.desc("_score")).limit(k)
        row = top.agg(F.min("_score"), F.sum("_score")).collect()[0]
        return float(row[0]), float(row[1])

    return out, top_k


def id_sql(df: Any, id_column: str) -> str:
    """The id as the keyed hash reads it: integers as ``bigint`` (the NumPy side hashes 8 bytes),
    strings as they are; other id types are refused before anything is written."""
    from pyspark.sql import types as T

    kind = df.schema[id_column].dataType
    quoted = "`" + id_column.replace("`", "``") + "`"
    if isinstance(kind, T.ByteType | T.ShortType | T.IntegerType | T.LongType):
        return f"CAST({quoted} AS BIGINT)"
    if isinstance(kind, T.StringType):
        return quoted
    raise ScoresError(
        f"id column {id_column!r} is {kind.simpleString()}: --holdout draws the arms from "
        "integer or string customer ids; cast the ids or pass another --id-column; nothing was "
        "written"
    )


def held_out_column(df: Any, holdout: Holdout, id_column: str, tier_sql: str) -> Any:
    """True where held out: Spark's own ``xxhash64`` (``outcomes.arms.spark_sql``) against the
    tier's threshold; a SQL expression, no Python UDF. ``tier_sql`` names the band index."""
    from pyspark.sql import functions as F

    cuts = ", ".join(f"CAST({arms.signed_threshold(f)} AS BIGINT)" for f in holdout.fractions)
    threshold = f"element_at(array({cuts}), CAST({tier_sql} AS INT) + 1)"
    return F.expr(arms.spark_sql(holdout.key, id_sql(df, id_column), threshold))


def tally_held_out(
    df: Any,
    table: BandTable,
    tally: Tally,
    holdout: Holdout,
    *,
    id_column: str,
    score_column: str,
    group_columns: Sequence[str] = (),
) -> TopK:
    """The Arrow engine's :func:`~.arrow_arms.tally_held_out`, aggregated in Spark."""
    from pyspark.sql import functions as F

    s = F.col(score_column).cast("double")
    tiered = df.select(
        F.col(id_column), band_index_column(table, s).alias("_tier"), s.alias("_score"),
        *[F.col(g) for g in group_columns if g != id_column],
    )  # fmt: skip
    tiered = tiered.withColumn("_held", held_out_column(tiered, holdout, id_column, "_tier"))
    for i in range(len(table)):
        tally.add_held_out(i, 0, 0.0)
    held = tiered.where(F.col("_held"))
    for r in held.groupBy("_tier").agg(F.count(F.lit(1)), F.sum("_score")).collect():
        tally.add_held_out(int(r[0]), int(r[1]), float(r[2]))
    paid = held.where(F.col("_tier").isin(list(paid_indices(table))))
    for g in group_columns:
        for r in paid.groupBy(g).count().collect():
            tally.add_group(g, r[0], 0, -int(r[1]))

    def top_k(i: int, k: int) -> tuple[float, float]:
        treated = tiered.where((F.col("_tier") == i) & ~F.col("_held"))
        row = treated.orderBy(F.desc("_score")).limit(k).agg(F.min("_score"), F.sum("_score"))
        got = row.collect()[0]
        return float(got[0]), float(got[1])

    return top_k


def assignments_frame(
    df: Any,
    table: BandTable,
    *,
    id_column: str,
    score_column: str,
    constants: dict[str, Any],
    holdout: Holdout | None = None,
) -> Any:
    """One row per customer, in :data:`ASSIGNMENT_COLUMNS` order and types; with a
    ``holdout``, a held-out row's action is :data:`HOLDOUT_INTERVENTION` at no cost."""
    from pyspark.sql import functions as F

    constants = {"campaign": None, **constants}
    s = F.col(score_column).cast("double")
    df = df.select(F.col(id_column), s.alias("_score"))
    df = df.withColumn("_tier", band_index_column(table, F.col("_score")))
    idx = F.col("_tier")
    held = F.lit(False)
    if holdout is not None:
        held = held_out_column(df, holdout, id_column, "`_tier`")
    fractions = holdout.fractions if holdout is not None else [0.0] * len(table)

    def pick(values: Sequence[Any]) -> Any:
        return F.array(*[F.lit(v) for v in values])[idx]

    computed = {
        "customer_id": F.col(id_column),
        "churn_score": F.col("_score"),
        "tier": pick([b.tier for b in table.bands]),
        "tier_rank": pick([b.rank for b in table.bands]).cast("int"),
        "intervention": F.when(held, F.lit(HOLDOUT_INTERVENTION)).otherwise(
            pick([b.intervention for b in table.bands])
        ),
        "cost": F.when(held, F.lit(0.0))
        .otherwise(pick([b.cost for b in table.bands]))
        .cast("double"),
        "arm": F.when(held, F.lit(HELD_OUT)).otherwise(F.lit(TREATED)),
        "holdout_fraction": pick([float(f) for f in fractions]).cast("double"),
    }
    kinds = {"string": "string", "int": "int", "double": "double", "timestamp": "timestamp"}

    def constant(name: str, kind: str) -> Any:
        value = constants[name]
        if value is None:
            return F.lit(None).cast(kind)
        if isinstance(value, datetime):
            # An ISO string cast, not a datetime literal: pyspark's Connect client infers a
            # datetime's type by reading spark.sql.timestampType, a conf serverless refuses.
            return F.lit(value.isoformat()).cast(kind)
        return F.lit(value).cast(kind)

    cols = [
        (computed[c.name] if c.name in computed else constant(c.name, kinds[c.type])).alias(c.name)
        for c in ASSIGNMENT_COLUMNS
    ]
    return df.select(*cols)


# --------------------------------------------------------------------------- Delta via Spark


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def create_table_sql(table: TableName, id_type: str) -> str:
    kinds = {"string": "STRING", "int": "INT", "double": "DOUBLE", "timestamp": "TIMESTAMP"}
    cols = ",\n  ".join(
        f"`{c.name}` {id_type if c.type == 'id' else kinds[c.type]}"
        f"{'' if c.nullable else ' NOT NULL'} COMMENT {_literal(c.comment)}"
        for c in ASSIGNMENT_COLUMNS
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {table.quoted} (\n  {cols}\n)\nUSING DELTA\n"
        f"PARTITIONED BY (`project`)\nCOMMENT {_literal(ASSIGNMENTS_COMMENT)}"
    )


def add_columns_sql(table: TableName, existing: Sequence[str]) -> str | None:
    """``ALTER TABLE ... ADD COLUMNS`` for the nullable columns a table written by an older
    version lacks (``campaign``, ``arm``, ``holdout_fraction``): its other rows read null."""
    kinds = {"string": "STRING", "int": "INT", "double": "DOUBLE", "timestamp": "TIMESTAMP"}
    have = {c.lower() for c in existing}
    missing = [c for c in ASSIGNMENT_COLUMNS if c.nullable and c.name.lower() not in have]
    if not missing:
        return None
    cols = ", ".join(f"`{c.name}` {kinds[c.type]} COMMENT {_literal(c.comment)}" for c in missing)
    return f"ALTER TABLE {table.quoted} ADD COLUMNS ({cols})"


def check_target(
    spark: Any, table: TableName, id_type: str, *, project: str, project_name: str
) -> None:
    """Refuse, before anything is written, a table the plan could not replace its project's rows
    in: not Delta, another shape (the Arrow engine's rule: exactly our columns and types, the id
    typed as in the scores), not partitioned by project, or holding another project under the
    spec's slug (``assignments.check_slug``, the check the Arrow engine runs)."""
    if not spark.catalog.tableExists(str(table)):
        return
    [detail] = [r.asDict() for r in spark.sql(f"DESCRIBE DETAIL {table.quoted}").collect()]
    kinds = {"string": "string", "int": "int", "double": "double", "timestamp": "timestamp"}
    want = {c.name: id_type if c.type == "id" else kinds[c.type] for c in ASSIGNMENT_COLUMNS}
    have = {f.name: f.dataType.simpleString() for f in spark.table(table.quoted).schema.fields}
    # The nullable columns a table of an older version lacks are added before the write
    # (add_columns_sql): their absence is our own older shape, not another tool's table.
    added_later = {c.name for c in ASSIGNMENT_COLUMNS if c.nullable}
    problems = [
        f"{name} is {have.get(name, 'missing')} there, {want.get(name, 'not one of ours')} here"
        for name in dict.fromkeys([*want, *have])
        if have.get(name) != want.get(name) and not (name in added_later and name not in have)
    ]
    if str(detail.get("format", "")).lower() != "delta":
        problems.insert(0, f"it is a {detail.get('format')} table, not Delta")
    if list(detail.get("partitionColumns") or []) != ["project"]:
        problems.append(f"it is partitioned by {list(detail.get('partitionColumns') or [])}")
    if problems:
        raise TargetError(
            f"assignments table {table} cannot take these assignments: {'; '.join(problems)}. "
            "Pass a new table name, or the table an earlier plan of scores with the same id "
            "type wrote"
        )
    check_slug(history(spark, table, HISTORY_LIMIT), str(table), project, project_name)


def unchanged_sql(table: TableName, project: str, run_id: str) -> str:
    """Counts the project's rows, and those not written by this plan run."""
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    return (
        f"SELECT count(*) AS n, count_if(plan_run_id <> '{run_id}') AS other "
        f"FROM {table.quoted} WHERE project = {sql_string(project)}"
    )


def _version(spark: Any, table: TableName, user_metadata: str | None = None) -> int:
    """The table's latest version, or the newest commit carrying ``user_metadata`` (ours: another
    writer may have committed since), from Delta's ``DESCRIBE HISTORY`` (SQL, so it runs over
    Spark Connect too)."""
    rows = history(spark, table, HISTORY_DEPTH if user_metadata is not None else 1)
    for h in rows:
        if user_metadata is not None and h.get("userMetadata") == user_metadata:
            return int(h["version"])
    return int(rows[0]["version"])


def write_assignments(
    spark: Any,
    table: TableName,
    frame: Any,
    *,
    rows: int,
    project: str,
    run_id: str,
    commit_metadata: dict[str, str],
) -> tuple[int, bool]:
    """Replace the project's rows (``replaceWhere``: one atomic Delta commit); returns
    (version, changed). No commit when the project's rows already came from this run.

    The commit's metadata goes in the writer option ``userMetadata``, never the session conf
    ``spark.databricks.delta.commitInfo.userMetadata``: serverless refuses session confs
    (Databricks, "Enrich tables with custom metadata": on serverless use the writer option)."""
    id_type = frame.schema["customer_id"].dataType.simpleString().upper()
    spark.sql(create_table_sql(table, id_type))
    alter = add_columns_sql(table, spark.table(table.quoted).columns)
    if alter:
        spark.sql(alter)
    got = spark.sql(unchanged_sql(table, project, run_id)).collect()[0]
    if int(got["n"]) == rows and int(got["other"] or 0) == 0:
        return _version(spark, table), False
    user_metadata = json.dumps(commit_metadata, sort_keys=True)
    (
        frame.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"project = {sql_string(project)}")
        .option("userMetadata", user_metadata)
        .saveAsTable(str(table))
    )
    return _version(spark, table, user_metadata), True
