"""The Spark engine against the Arrow engine on the same Parquet, up to the Delta write.

The assignments' SQL goes through Spark's own parser here; ``test_spark_delta.py`` runs the real
``replaceWhere`` write on classic, Spark Connect and serverless-like sessions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alignment_mlflow
from _specs import make_spec, spec_data
from alignment_mlflow.bands.table import band_table
from alignment_mlflow.economics import arrow_engine, core, spark_engine
from alignment_mlflow.economics.core import ScoresError
from alignment_mlflow.economics.report import ASSIGNMENT_COLUMNS
from alignment_mlflow.spec import load_spec
from alignment_mlflow.tiers.schema import parse_table_name

pytestmark = pytest.mark.spark

SPEC = make_spec()
TABLE = band_table(SPEC)
EDGES = sorted(
    {
        x
        for b in TABLE.bands
        for e in (b.min_score, b.max_score)
        for x in (e, math.nextafter(e, -1.0), math.nextafter(e, 2.0))
        if 0.0 <= x <= 1.0
    }
)


@pytest.fixture(scope="module")
def spark(classic_spark: Any) -> Any:
    """The test session's classic session (with Delta): one SparkContext per process."""
    return classic_spark


def write_scores(path: Path, scores: list[float], groups: list[str] | None = None) -> Path:
    data: dict[str, Any] = {
        "customer_id": pa.array(range(len(scores)), pa.int64()),
        "churn_score": pa.array(scores, pa.float64()),
    }
    if groups is not None:
        data["segment"] = groups
    pq.write_table(pa.table(data), path)
    return path


def both(spark: Any, path: Path, spec: Any = SPEC, groups: list[str] = ()) -> tuple[Any, Any]:  # type: ignore[assignment]
    table = band_table(spec)
    src = arrow_engine.open_scores(str(path))
    a_tally, a_top = arrow_engine.tally(
        src, table, id_column="customer_id", score_column="churn_score", group_columns=groups
    )
    df = spark.read.parquet(str(path))
    spark_engine.validate(
        df, id_column="customer_id", score_column="churn_score", group_columns=groups, source="t"
    )
    s_tally, s_top = spark_engine.tally(df, table, score_column="churn_score", group_columns=groups)
    return core.economics(spec, table, a_tally, a_top), core.economics(spec, table, s_tally, s_top)


def assert_same(a: core.Economics, s: core.Economics) -> None:
    assert [(t.tier, t.customers) for t in a.tiers] == [(t.tier, t.customers) for t in s.tiers]
    for x, y in zip(a.tiers, s.tiers, strict=True):
        assert x.cost == y.cost
        assert x.expected_saves == pytest.approx(y.expected_saves, rel=1e-12)
    assert a.total_cost == s.total_cost
    assert a.within_budget == s.within_budget
    assert [(p.column, p.groups) for p in a.parity] == [(p.column, p.groups) for p in s.parity]
    assert a.parity_met == s.parity_met
    if a.allocation is not None:
        assert s.allocation is not None
        assert a.allocation.score_cutoff == s.allocation.score_cutoff
        assert a.allocation.partial_customers == s.allocation.partial_customers
        assert a.allocation.cost == s.allocation.cost


def test_every_boundary_lands_in_the_same_tier(spark: Any, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    path = write_scores(tmp_path / "edges.parquet", EDGES)
    df = spark.read.parquet(str(path))
    got = {
        r["churn_score"]: r["t"]
        for r in df.select(
            "churn_score", spark_engine.band_index_column(TABLE, F.col("churn_score")).alias("t")
        ).collect()
    }
    for score in EDGES:
        [expected] = [i for i, inter in enumerate(SPEC.interventions) if inter.band.contains(score)]
        assert got[score] == expected == TABLE.tier_of(score)
    assert TABLE.bands[got[0.8]].tier == "Medium"
    a, s = both(spark, path)
    assert_same(a, s)


def test_the_sql_compilation_lands_every_boundary_in_the_same_tier(
    spark: Any, tmp_path: Path
) -> None:
    """Spark SQL reads the bounds as DOUBLE (a bare 0.8 would be a DECIMAL)."""
    from pyspark.sql import functions as F

    from alignment_mlflow.bands.sql import band_index_sql

    path = write_scores(tmp_path / "edges.parquet", EDGES)
    df = spark.read.parquet(str(path))
    rows = df.select("churn_score", F.expr(band_index_sql(TABLE, "churn_score")).alias("t"))
    got = {r["churn_score"]: r["t"] for r in rows.collect()}
    assert got == {score: TABLE.tier_of(score) for score in EDGES}


def test_over_budget_allocation_and_parity_agree(spark: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    scores = list(rng.random(3000)) + EDGES
    groups = [("a", "b", "c")[i % 3] for i in range(len(scores))]
    data = spec_data()
    data["business_context"]["budget_constraints"] = "$20k per month"
    spec = load_spec(data)
    a, s = both(spark, write_scores(tmp_path / "s.parquet", scores, groups), spec, ["segment"])
    assert a.allocation is not None
    assert_same(a, s)


@settings(max_examples=8, deadline=None)
@given(
    scores=st.lists(st.one_of(st.floats(0.0, 1.0), st.sampled_from(EDGES)), min_size=1, max_size=60)
)
def test_property_spark_and_arrow_agree(
    spark: Any, tmp_path_factory: Any, scores: list[float]
) -> None:
    path = write_scores(
        tmp_path_factory.mktemp("p") / "s.parquet",
        scores,
        ["x", "y"] * (len(scores) // 2) + ["x"] * (len(scores) % 2),
    )
    a, s = both(spark, path, groups=["segment"])
    assert_same(a, s)


@pytest.mark.parametrize(
    ("ids", "scores", "needle"),
    [
        ([1, 2, 3], [0.1, None, 0.2], "1 null scores (first ids: 2)"),
        ([1, 2, 3], [0.1, float("nan"), 0.2], "1 NaN scores (first ids: 2)"),
        ([1, 2, 3], [0.1, -1.0, 0.2], "1 scores outside [0, 1] (first ids: 2)"),
        ([1, 1, 3], [0.1, 0.2, 0.3], "1 duplicate ids (rows beyond the first) (first ids: 1)"),
    ],
)
def test_spark_validation_matches(
    spark: Any, tmp_path: Path, ids: list[int], scores: list[Any], needle: str
) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table({"customer_id": ids, "churn_score": pa.array(scores, pa.float64())}), path
    )
    with pytest.raises(ScoresError) as err:
        spark_engine.validate(spark.read.parquet(str(path)), id_column="customer_id",
                              score_column="churn_score", group_columns=[], source="t")  # fmt: skip
    assert needle in str(err.value)


def test_assignments_frame_matches_the_arrow_rows(spark: Any, tmp_path: Path) -> None:
    from datetime import datetime, timezone

    path = write_scores(tmp_path / "s.parquet", [*EDGES, 0.33, 0.77])
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    constants = {
        "project": "p",
        "currency": "USD",
        "spec_sha256": "abc",
        "plan_run_id": "r1",
        "scored_at": when,
    }
    frame = spark_engine.assignments_frame(spark.read.parquet(str(path)), TABLE,
                                           id_column="customer_id", score_column="churn_score",
                                           constants=constants)  # fmt: skip
    assert frame.columns == [c.name for c in ASSIGNMENT_COLUMNS]
    from alignment_mlflow.economics import assignments

    src = arrow_engine.open_scores(str(path))
    reader = arrow_engine.assignment_batches(src, TABLE, id_column="customer_id", score_column="churn_score",
                                             constants=constants, schema=assignments.arrow_schema(pa.int64()))  # fmt: skip
    arrow_rows = {r["customer_id"]: r for r in reader.read_all().to_pylist()}
    for r in frame.collect():
        mine = arrow_rows[r["customer_id"]]
        for c in (
            "tier",
            "tier_rank",
            "intervention",
            "cost",
            "churn_score",
            "project",
            "plan_run_id",
        ):
            assert r[c] == mine[c]


def test_plan_api_on_a_spark_dataframe(spark: Any, tmp_path: Path) -> None:
    path = write_scores(tmp_path / "s.parquet", [0.9, 0.8, 0.5, 0.1], ["a", "b", "a", "b"])
    df = spark.read.parquet(str(path))
    result = alignment_mlflow.plan(df, str(Path(__file__).parent.parent / "examples" / "churn_alignment.yaml"),
                                   group_columns=["segment"], dry_run=True)  # fmt: skip
    assert result.engine == "spark"
    assert [t.customers for t in result.economics.tiers] == [1, 2, 1]
    local = alignment_mlflow.plan(str(path), str(Path(__file__).parent.parent / "examples" / "churn_alignment.yaml"),
                                  group_columns=["segment"], dry_run=True)  # fmt: skip
    assert local.to_json() | {"timings": {}} == result.to_json() | {"timings": {}}


def parse(spark: Any, sql: str) -> Any:
    return spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)


def test_delta_statements_are_accepted_by_sparks_parser(spark: Any) -> None:
    name = parse_table_name("main.churn.churn_assignments")
    create = spark_engine.create_table_sql(name, "BIGINT")
    assert parse(spark, create) is not None
    assert "PARTITIONED BY (`project`)" in create
    assert (
        parse(spark, spark_engine.unchanged_sql(name, "customer_churn_prediction", "abc123"))
        is not None
    )
    # the replaceWhere predicate is a valid Spark expression
    assert (
        spark._jsparkSession.sessionState()
        .sqlParser()
        .parseExpression("project = 'customer_churn_prediction'")
        is not None
    )
    with pytest.raises(ValueError, match="not a run id"):
        spark_engine.unchanged_sql(name, "p", "x' OR '1'='1")


# --------------------------------------------------------------------------- the holdout


def _holdout(
    spark: Any, path: Path, fraction: float | str, groups: list[str] = ()
) -> tuple[Any, Any]:  # type: ignore[assignment]
    """The same plan with a holdout on both engines: (Arrow economics, Spark economics)."""
    from alignment_mlflow.economics import arrow_arms
    from alignment_mlflow.economics import holdout as holdouts
    from alignment_mlflow.outcomes import arms

    key = arms.campaign_key("p", "c")
    src = arrow_engine.open_scores(str(path))
    out = []
    for engine in ("arrow", "spark"):
        if engine == "arrow":
            tally, _ = arrow_engine.tally(src, TABLE, id_column="customer_id",
                                          score_column="churn_score", group_columns=groups)  # fmt: skip
        else:
            df = spark.read.parquet(str(path))
            tally, _ = spark_engine.tally(
                df, TABLE, score_column="churn_score", group_columns=groups
            )
        h = (
            holdouts.fixed("c", key, fraction, TABLE)
            if isinstance(fraction, float)
            else holdouts.auto("c", key, TABLE, tally.counts, tally.score_sums)
        )
        if engine == "arrow":
            top = arrow_arms.tally_held_out(src, TABLE, tally, h, id_column="customer_id",
                                            score_column="churn_score", group_columns=groups)  # fmt: skip
        else:
            top = spark_engine.tally_held_out(df, TABLE, tally, h, id_column="customer_id",
                                              score_column="churn_score", group_columns=groups)  # fmt: skip
        out.append(core.economics(SPEC, TABLE, tally, top, h))
    return out[0], out[1]


def test_both_engines_hold_out_the_same_customers_and_count_them_alike(
    spark: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(11)
    scores = list(rng.random(4000)) + EDGES
    groups = [("a", "b", "c")[i % 3] for i in range(len(scores))]
    path = write_scores(tmp_path / "s.parquet", scores, groups)
    for fraction in (0.0, 0.3, "auto"):
        a, s = _holdout(spark, path, fraction, ["segment"])
        assert_same(a, s)
        assert [t.holdout for t in a.tiers] == [t.holdout for t in s.tiers]
        assert [t.holdout_fraction for t in a.tiers] == [t.holdout_fraction for t in s.tiers]
        if fraction == 0.3:
            assert all(t.holdout > 0 for t in a.tiers)


@pytest.mark.parametrize("id_type", ["bigint", "int", "string"])
def test_the_assignments_arm_is_the_same_row_for_row(
    spark: Any, tmp_path: Path, id_type: str
) -> None:
    from datetime import datetime, timezone

    from alignment_mlflow.economics import assignments
    from alignment_mlflow.economics import holdout as holdouts
    from alignment_mlflow.outcomes import arms

    n = 3000
    ids = [f"c-{i}" for i in range(n)] if id_type == "string" else list(range(-500, n - 500))
    arrow_id = {"bigint": pa.int64(), "int": pa.int32(), "string": pa.string()}[id_type]
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"customer_id": pa.array(ids, arrow_id),
                             "churn_score": np.linspace(0, 1, n)}), path)  # fmt: skip
    h = holdouts.Holdout("c", arms.campaign_key("p", "c"), None, (0.05, 0.5, 0.25))
    constants = {"project": "p", "currency": "USD", "spec_sha256": "abc", "plan_run_id": "r1",
                 "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc), "campaign": "c"}  # fmt: skip
    frame = spark_engine.assignments_frame(spark.read.parquet(str(path)), TABLE,
                                           id_column="customer_id", score_column="churn_score",
                                           constants=constants, holdout=h)  # fmt: skip
    assert frame.columns == [c.name for c in ASSIGNMENT_COLUMNS]
    src = arrow_engine.open_scores(str(path))
    reader = arrow_engine.assignment_batches(src, TABLE, id_column="customer_id", score_column="churn_score",
                                             constants=constants, schema=assignments.arrow_schema(arrow_id),
                                             holdout=h)  # fmt: skip
    arrow_rows = {r["customer_id"]: r for r in reader.read_all().to_pylist()}
    got = frame.collect()
    assert len(got) == n
    keep = ("tier", "arm", "intervention", "cost", "holdout_fraction", "campaign")
    for r in got:
        assert {c: r[c] for c in keep} == {c: arrow_rows[r["customer_id"]][c] for c in keep}
    assert {r["arm"] for r in got} == {"treated", "holdout"}


def test_a_spark_assignments_table_from_before_the_holdout_gains_its_columns(
    spark: Any, tmp_path: Path
) -> None:
    """ALTER TABLE ADD COLUMNS for the three nullable columns; the other project's rows read
    null, ours carry the arms."""
    from datetime import datetime, timezone

    from _spark_paths import fresh_schema
    from alignment_mlflow.economics import holdout as holdouts
    from alignment_mlflow.outcomes import arms
    from alignment_mlflow.tables.names import parse_table_name as parse_name

    name = parse_name(f"{fresh_schema(spark, 'holdout')}.churn_assignments")
    old = [c for c in ASSIGNMENT_COLUMNS if not c.nullable]
    kinds = {
        "string": "STRING",
        "int": "INT",
        "double": "DOUBLE",
        "timestamp": "TIMESTAMP",
        "id": "BIGINT",
    }
    cols = ", ".join(f"`{c.name}` {kinds[c.type]} NOT NULL" for c in old)
    spark.sql(f"CREATE TABLE {name.quoted} ({cols}) USING DELTA PARTITIONED BY (`project`)")
    spark.sql(f"INSERT INTO {name.quoted} VALUES ('other', 1, 0.5, 'Medium', 2, 'x', 10.0, 'USD', "
              "'abc', 'r0', TIMESTAMP'2026-01-01 00:00:00')")  # fmt: skip
    path = write_scores(tmp_path / "s.parquet", list(np.linspace(0, 1, 500)))
    df = spark.read.parquet(str(path))
    h = holdouts.fixed("c", arms.campaign_key("p", "c"), 0.2, TABLE)
    constants = {"project": "p", "currency": "USD", "spec_sha256": "abc", "plan_run_id": "r1",
                 "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc), "campaign": "c"}  # fmt: skip
    frame = spark_engine.assignments_frame(df, TABLE, id_column="customer_id",
                                           score_column="churn_score", constants=constants, holdout=h)  # fmt: skip
    _, changed = spark_engine.write_assignments(spark, name, frame, rows=500, project="p",
                                                      run_id="r1", commit_metadata={"plan_run_id": "r1"})  # fmt: skip
    assert changed
    table = spark.table(name.quoted)
    assert table.columns == [c.name for c in ASSIGNMENT_COLUMNS]
    other = table.where("project = 'other'").collect()
    assert [(r["campaign"], r["arm"], r["holdout_fraction"]) for r in other] == [(None, None, None)]
    arms_seen = {r["arm"] for r in table.where("project = 'p'").select("arm").collect()}
    assert arms_seen == {"treated", "holdout"}
    spark.sql(f"DROP TABLE {name.quoted}")


def test_two_project_names_with_one_slug_are_refused_on_the_spark_path(
    spark: Any, tmp_path: Path
) -> None:
    """The Arrow path's slug check (issue 23), reused: the second project's plan would have
    replaced the first one's assignments; refused before the MLflow run, the table untouched."""
    import uuid

    schema = f"spark_catalog.slug_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE SCHEMA {schema}")
    table = f"{schema}.churn_assignments"
    scores = spark.read.parquet(str(write_scores(tmp_path / "s.parquet", [0.1, 0.5, 0.9])))
    first = alignment_mlflow.plan(
        scores, make_spec("Customer Churn"), assignments_table=table,
        tracking_uri=f"sqlite:///{tmp_path / 'a.db'}",
    )  # fmt: skip
    before = spark.sql(f"DESCRIBE HISTORY {table}").collect()[0]["version"]
    other = make_spec("customer-churn!")
    assert other.project_slug == make_spec("Customer Churn").project_slug == "customer_churn"
    from alignment_mlflow.errors import TargetError

    with pytest.raises(TargetError, match="also slugs to") as exc:
        alignment_mlflow.plan(
            scores, other, assignments_table=table, tracking_uri=f"sqlite:///{tmp_path / 'b.db'}"
        )
    assert exc.value.exit_code == 2
    assert spark.sql(f"DESCRIBE HISTORY {table}").collect()[0]["version"] == before
    names = {r[0] for r in spark.sql(f"SELECT DISTINCT plan_run_id FROM {table}").collect()}
    assert names == {first.run_id}
    assert not (tmp_path / "b.db").exists()
