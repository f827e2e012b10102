"""The Spark engine: the assignments joined with the outcomes where the tables live, reduced to
the same :class:`~.counts.Scan` as the Arrow engine, count for count (the tests hold the two to
it). Delta tables by name or path are read at their current version, pinned once, so the join
sees one snapshot; the location records it (``name@v12``). Two aggregations: the ids of both
sides joined (who is on one side only, who is twice), then the arms (who churned)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pyspark.sql import functions as F
from pyspark.sql import types as T

from alignment_mlflow.outcomes import counts
from alignment_mlflow.outcomes.counts import ARMS, ArmTally, OutcomesError, Scan
from alignment_mlflow.tables.names import is_table_name, parse_table_name


def open_source(session: Any, source: Any, what: str) -> tuple[Any, str]:
    """(frame, location as recorded) for a DataFrame, a table name or a Delta/Parquet path."""
    if type(source).__name__ == "DataFrame":
        return source, "<spark dataframe>"
    where = os.fspath(source)
    if not os.path.exists(where) and "://" not in where and is_table_name(where):
        name = parse_table_name(where)
        if not session.catalog.tableExists(str(name)):
            raise OutcomesError(f"{what} table {name} does not exist")
        try:
            version = _version(session, name.quoted)
        except Exception:  # not a Delta table (a view, a Parquet table): read as it is
            return session.table(str(name)), str(name)
        return session.sql(f"SELECT * FROM {name.quoted} VERSION AS OF {version}"), (
            f"{name}@v{version}"
        )
    if os.path.isdir(os.path.join(where, "_delta_log")):
        version = _version(session, "delta.`" + where.replace("`", "``") + "`")
        frame = session.read.format("delta").option("versionAsOf", version).load(where)
        return frame, f"{where}@v{version}"
    if not os.path.exists(where) and "://" not in where:
        raise OutcomesError(f"{what} {where} not found: pass a Delta table, Parquet file or folder")
    return session.read.parquet(where), where


def _version(session: Any, table_sql: str) -> int:
    [row] = session.sql(f"DESCRIBE HISTORY {table_sql} LIMIT 1").collect()
    return int(row["version"])


def require(frame: Any, columns: Sequence[str], what: str, where: str) -> None:
    counts.require(frame.columns, columns, what, where)


def _project(frame: Any, project: str) -> Any:
    return frame.filter(F.col("project") == F.lit(project))


def campaigns(assignments: Any, project: str) -> list[str | None]:
    rows = _project(assignments, project).select("campaign").distinct().collect()
    return sorted((r[0] for r in rows), key=lambda c: (c is not None, c or ""))


def _ids(assigned: Any, outcomes: Any, where: str) -> tuple[Any, Any]:
    a = assigned.schema["customer_id"].dataType
    o = outcomes.dataType
    integral = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    if isinstance(a, integral) and isinstance(o, integral):
        return F.col("customer_id").cast("bigint"), "bigint"
    if isinstance(a, T.StringType) and isinstance(o, T.StringType):
        return F.col("customer_id"), "string"
    raise OutcomesError(
        f"customer ids are {a.simpleString()} in the assignments but {o.simpleString()} in the "
        f"outcomes {where}: cast one so that they compare"
    )


def _values(field: Any, where: str) -> tuple[Any, Any]:
    """(value 0/1, valid) Columns for the churned column, as the Arrow engine reads it."""
    c, t = F.col(field.name), field.dataType
    if isinstance(t, T.BooleanType):
        return F.coalesce(c.cast("int"), F.lit(0)), c.isNotNull()
    if isinstance(t, T.NumericType):
        d = c.cast("double")
        valid = F.coalesce(d.isin(0.0, 1.0), F.lit(False))
        return F.when(valid, d.cast("int")).otherwise(0), valid
    if isinstance(t, T.StringType):
        w = F.lower(F.trim(c))
        one = F.coalesce(w.isin("1", "true"), F.lit(False))
        zero = F.coalesce(w.isin("0", "false"), F.lit(False))
        return one.cast("int"), one | zero
    raise OutcomesError(
        f"outcomes {where}: the churned column is {t.simpleString()}; give 0/1 or true/false"
    )


def scan(
    assignments: Any, outcomes: Any, project: str, campaign: str | None, *, id_column: str,
    churned_column: str, where: str,
) -> Scan:  # fmt: skip
    a = _project(assignments, project).filter(F.col("campaign").eqNullSafe(F.lit(campaign)))
    id_col, id_type = _ids(a, outcomes.schema[id_column], where)
    value, valid = _values(outcomes.schema[churned_column], where)
    a = a.withColumn("_id", id_col)
    o = outcomes.select(
        F.col(id_column).cast(id_type).alias("_id"), value.alias("_v"), valid.alias("_ok"),
        F.col(churned_column).alias("_raw"),
    )  # fmt: skip
    per_a = a.groupBy("_id").agg(F.count(F.lit(1)).alias("na"))
    per_o = o.groupBy("_id").agg(
        F.count(F.lit(1)).alias("no"),
        F.sum(F.when(~F.col("_ok"), 1).otherwise(0)).alias("nbad"),
        F.max(F.when(F.col("_ok"), F.col("_v"))).alias("churned"),
    )
    joined = per_a.join(per_o, "_id", "full_outer")
    has_a, has_o = F.col("na").isNotNull(), F.col("no").isNotNull()
    [r] = joined.agg(
        F.coalesce(F.sum("na"), F.lit(0)).alias("rows"),
        F.count("na").alias("distinct"),
        F.coalesce(F.sum("no"), F.lit(0)).alias("outcomes"),
        F.coalesce(F.sum(F.when(~has_a, F.col("no"))), F.lit(0)).alias("not_in_a"),
        F.coalesce(F.sum(F.when(has_a & ~has_o, 1)), F.lit(0)).alias("not_in_o"),
        F.coalesce(F.sum(F.when(has_a & has_o, F.col("no") - 1)), F.lit(0)).alias("dup_o"),
        F.coalesce(F.sum("nbad"), F.lit(0)).alias("bad"),
    ).collect()
    bad_values: list[object] = []
    if r["bad"]:
        raw = o.filter(~F.col("_ok")).select("_raw").distinct().limit(1000).collect()
        bad_values = [x[0] for x in raw]

    arm_ok = F.col("arm").isin(*ARMS) & F.col("arm").isNotNull()
    churn = per_o.select("_id", F.coalesce(F.col("churned"), F.lit(0)).alias("_c"))
    tallies = (
        a.filter(arm_ok)
        .join(churn, "_id", "left")
        .groupBy("tier", "arm")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.coalesce(F.sum("_c"), F.lit(0)).alias("churned"),
            F.coalesce(F.sum("cost"), F.lit(0.0)).alias("cost"),
            F.coalesce(F.sum("churn_score"), F.lit(0.0)).alias("score"),
        )
        .collect()
    )
    frac = F.col("holdout_fraction").cast("double")
    present = frac.isNotNull() & ~F.isnan(frac)
    # One pass over the assignments for everything per tier: planned fractions, refused arms and
    # fractions, the plan's constants (a handful of distinct values each).
    per_tier = (
        a.groupBy("tier")
        .agg(
            F.min(F.when(present, frac)).alias("lo"),
            F.max(F.when(present, frac)).alias("hi"),
            F.sum(F.when(~arm_ok, 1).otherwise(0)).alias("bad_arms"),
            F.sum(F.when(~present | (frac < 0) | (frac > 1), 1).otherwise(0)).alias("bad_frac"),
            F.collect_set(F.when(~arm_ok, F.coalesce(F.col("arm"), F.lit("\0null")))).alias("arms"),
            F.collect_set("plan_run_id").alias("plans"),
            F.collect_set("spec_sha256").alias("specs"),
            F.collect_set("currency").alias("currencies"),
        )
        .collect()
    )
    fractions = [f for f in per_tier if f["lo"] is not None]
    bad_arms = sorted({None if x == "\0null" else x for f in per_tier for x in f["arms"]},
                      key=lambda v: (v is not None, v or ""))  # fmt: skip
    plans = [
        (p, sp, cu)
        for f in per_tier
        for p in f["plans"]
        for sp in f["specs"]
        for cu in (f["currencies"] or [None])
    ]
    facts = {
        "bad_arms": sum(int(f["bad_arms"] or 0) for f in per_tier),
        "bad_frac": sum(int(f["bad_frac"] or 0) for f in per_tier),
    }
    return Scan(
        tallies=tuple(sorted(
            (ArmTally(str(t["tier"]), str(t["arm"]), int(t["n"]), int(t["churned"]),
                      float(t["cost"]), float(t["score"])) for t in tallies),
            key=lambda t: (t.tier, t.arm),
        )),
        fractions=tuple(sorted(
            (str(f["tier"]), (float(f["lo"]),) if f["lo"] == f["hi"]
             else (float(f["lo"]), float(f["hi"]))) for f in fractions
        )),
        plan_run_ids=tuple(sorted({str(p[0]) for p in plans})),
        spec_sha256s=tuple(sorted({str(p[1]) for p in plans})),
        currencies=tuple(sorted({str(p[2]) for p in plans if p[2] is not None})),
        assignments=int(r["rows"]),
        outcomes=int(r["outcomes"]),
        not_in_outcomes=int(r["not_in_o"]),
        not_in_assignments=int(r["not_in_a"]),
        duplicate_assignments=int(r["rows"]) - int(r["distinct"]),
        duplicate_outcomes=int(r["dup_o"]),
        bad_values=int(r["bad"]),
        bad_value_examples=counts.examples(bad_values),
        bad_arms=int(facts["bad_arms"] or 0),
        bad_arm_examples=counts.examples(bad_arms),
        bad_fractions=int(facts["bad_frac"] or 0),
    )  # fmt: skip
