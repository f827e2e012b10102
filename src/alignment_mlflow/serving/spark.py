"""Tiers in Spark: a column expression for batch scoring and the SQL function, both compiled from
the one band table (``bands/table.py``'s predicates, ``bands/sql.py``'s conditions). No Python
UDF: the JVM evaluates them, on a classic cluster and on Spark Connect alike; Spark widens a FLOAT
score to DOUBLE before comparing, which is the exact-value rule."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from alignment_mlflow.bands.table import BandTable, band_masks, band_table
from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.findings.aligned import load_spec_source
from alignment_mlflow.serving.core import check_partition
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.tables.spark import active_spark, databricks_spark


def _table(spec: AlignmentSpec | str | os.PathLike[str] | Mapping[str, Any]) -> BandTable:
    if not isinstance(spec, AlignmentSpec):
        spec = load_spec_source(spec).spec
    table = band_table(spec)
    check_partition(table)
    return table


def tier_column(
    df: Any, spec: AlignmentSpec | str | os.PathLike[str] | Mapping[str, Any], score_col: str
) -> Any:
    """The tier of ``df[score_col]`` as a Spark ``Column`` (STRING, NULL when no band holds the
    score: NULL, NaN, outside [0, 1]). ``spec`` is a spec, a spec file or an aligned findings
    file. Use it as ``df.withColumn("tier", tier_column(df, spec, "churn_score"))``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    if score_col not in df.columns:
        raise InvalidInputError(
            f"score column {score_col!r} is not in the DataFrame (columns: {', '.join(df.columns)})"
        )
    if not isinstance(df.schema[score_col].dataType, NumericType):
        raise InvalidInputError(
            f"score column {score_col!r} is {df.schema[score_col].dataType.simpleString()}, "
            "not a number"
        )
    table = _table(spec)
    # The tier names straight from the shared predicates, as bands/spark.py builds the index
    # (an index looked up in an array of names trips Spark 4.0's ConvertToLocalRelation on a
    # null index: a NullPointerException on a local DataFrame).
    masks = band_masks(table, df[score_col])
    expr = F.when(masks[0], F.lit(table.bands[0].tier))
    for band, mask in zip(table.bands[1:], masks[1:], strict=True):
        expr = expr.when(mask, F.lit(band.tier))
    return expr


def session(spark: Any = None) -> Any:
    """The session a SQL function is created with: passed in, the active one, or on Databricks
    the runtime's; None off a cluster (the statement is printed, not run)."""
    if spark is not None:
        return spark
    found = active_spark()
    if found is None and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        found = databricks_spark()
    return found


def create_function(spark: Any, statement: str) -> None:
    spark.sql(statement)
