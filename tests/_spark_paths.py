"""Every Spark path we ship, end to end against real Delta tables, as one class of tests that
``test_spark_delta.py`` runs on each kind of session (the fsspec ``tests/abstract`` arrangement):
a classic ``local[2]`` session, a Spark Connect session, and that Connect session behaving as
serverless (session confs refused).

A subclass provides the ``spark`` fixture; the sessions are shared by the whole test session
(``_spark.py``), so each test works in a schema of its own.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import alignment_mlflow
from _specs import make_spec
from alignment_mlflow.tiers import delta_spark
from alignment_mlflow.tiers.schema import parse_table_name
from alignment_mlflow.tiers.writer import write_tiers
from conftest import TEMPLATE_SPEC


def fresh_schema(spark: Any, prefix: str) -> str:
    name = f"spark_catalog.{prefix}_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {name}")
    return name


def history(spark: Any, table: str) -> list[dict[str, Any]]:
    return delta_spark.history(spark, parse_table_name(table), 20)


def scores_parquet(path: Path, n: int = 200) -> Path:
    rng = np.random.default_rng(11)
    s = rng.random(n)
    s[:3] = [0.8, 0.5, 1.0]  # band edges
    pq.write_table(
        pa.table(
            {
                "customer_id": np.arange(n, dtype=np.int64),
                "churn_score": s,
                "segment": rng.choice(["a", "b"], n),
            }
        ),
        path,
    )
    return path


class SparkPaths:
    """The Spark paths of both jobs; ``spark`` is the session under test."""

    def test_tiers_merge_into_a_table_name(self, spark: Any) -> None:
        table = f"{fresh_schema(spark, 'tiers')}.intervention_tiers"
        spec = make_spec()
        # No session passed: the writer finds the active one, as a job on Databricks does.
        first = write_tiers(table, spec, findings_path="f", run_id="r1")
        again = write_tiers(table, spec, findings_path="f", run_id="r1")
        assert (first.backend, first.changed, first.counts) == ("spark", True, {"inserted": 3, "updated": 0, "deleted": 0})  # fmt: skip
        assert (again.changed, again.version) == (False, first.version)
        rows = spark.sql(f"SELECT tier, mlflow_run_id FROM {table} ORDER BY tier_rank").collect()
        assert [(r["tier"], r["mlflow_run_id"]) for r in rows] == [
            ("High", "r1"), ("Medium", "r1"), ("Low", "r1"),
        ]  # fmt: skip
        # Another project commits after ours; ours is still found as our MERGE's version.
        other = write_tiers(table, make_spec("Other Project"), findings_path="g", run_id="o1")
        assert (other.changed, other.version) == (True, first.version + 1)
        newest = history(spark, table)
        assert [h["operation"] for h in newest[:2]] == ["MERGE", "MERGE"]
        ours = next(h for h in newest if int(h["version"]) == first.version)
        assert "customer_churn_prediction" in json.dumps(ours["operationParameters"])

    def test_plan_writes_assignments_with_replace_where(self, spark: Any, tmp_path: Path) -> None:
        table = f"{fresh_schema(spark, 'plan')}.churn_assignments"
        scores = spark.read.parquet(str(scores_parquet(tmp_path / "scores.parquet")))
        kwargs: dict[str, Any] = {
            "assignments_table": table,
            "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "experiment": "plan-spark-tests",
            "group_columns": ["segment"],
        }
        first = alignment_mlflow.plan(scores, str(TEMPLATE_SPEC), **kwargs)
        assert first.engine == "spark"
        assert first.assignments_changed
        assert first.assignments_table == str(parse_table_name(table))
        got = spark.sql(
            f"SELECT count(*) AS n, count_if(plan_run_id = '{first.run_id}') AS ours FROM {table}"
        ).collect()[0]
        assert (got["n"], got["ours"]) == (200, 200)
        [commit] = [h for h in history(spark, table) if h["version"] == first.assignments_version]
        assert commit["operation"] in ("WRITE", "CREATE OR REPLACE TABLE AS SELECT")
        assert json.loads(commit["userMetadata"])["plan_run_id"] == first.run_id
        assert "project = 'customer_churn_prediction'" in json.dumps(commit["operationParameters"])
        again = alignment_mlflow.plan(scores, str(TEMPLATE_SPEC), **kwargs)
        assert (again.reused_run, again.run_id) == (True, first.run_id)
        assert (again.assignments_changed, again.assignments_version) == (
            False, first.assignments_version,
        )  # fmt: skip

    def test_plan_reads_a_scores_table_at_one_pinned_version(
        self, spark: Any, tmp_path: Path
    ) -> None:
        scores = f"{fresh_schema(spark, 'scores')}.churn_scores"
        frame = spark.read.parquet(str(scores_parquet(tmp_path / "scores.parquet")))
        frame.write.format("delta").saveAsTable(scores)  # version 0: 200 rows
        frame.limit(150).write.format("delta").mode("overwrite").saveAsTable(scores)  # version 1
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        result = alignment_mlflow.plan(
            scores, str(TEMPLATE_SPEC), tracking_uri=uri, experiment="plan-pinned"
        )
        assert (result.engine, result.economics.rows) == ("spark", 150)
        assert result.scores_location == f"{parse_table_name(scores)}@v1"
        from mlflow import MlflowClient

        params = MlflowClient(uri).get_run(result.run_id).data.params
        assert (params["scores_version"], params["scores_location"]) == (
            "1",
            result.scores_location,
        )
