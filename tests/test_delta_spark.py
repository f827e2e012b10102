"""The Spark backend up to the Delta call: schema, rows, and SQL accepted by Spark's parser.

Delta jars cannot be downloaded here, so MERGE/CREATE ... USING DELTA cannot execute; Spark's own
SQL parser still checks every statement we would issue. ``test_full_spark_path`` runs everything
when Delta jars are on the classpath (ALIGNMENT_TEST_DELTA_SPARK=1); CI does not run it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from _specs import make_spec
from alignment_mlflow.errors import TargetError
from alignment_mlflow.tiers import delta_spark
from alignment_mlflow.tiers.schema import COLUMNS, parse_table_name, tier_rows

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("alignment-mlflow-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def parse(spark: Any, sql: str) -> Any:
    return spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)


def test_dataframe_has_exactly_the_shared_schema(spark: Any) -> None:
    rows = tier_rows(make_spec(), project="p", findings_path="f", run_id=None)
    df = delta_spark.build_source(spark, rows)
    assert [(f.name, f.nullable) for f in df.schema.fields] == [
        (c.name, c.nullable) for c in COLUMNS
    ]
    assert [f.metadata["comment"] for f in df.schema.fields] == [c.comment for c in COLUMNS]
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    assert types["tier_rank"] == "int"
    assert types["updated_at"] == "timestamp"
    got = sorted(df.collect(), key=lambda r: r["tier_rank"])
    assert [r["tier"] for r in got] == ["High", "Medium", "Low"]
    assert got[0]["mlflow_run_id"] is None


@pytest.mark.parametrize("name", ["main.churn.intervention_tiers", "churn.tiers"])
def test_every_statement_is_accepted_by_sparks_parser(spark: Any, name: str) -> None:
    table = parse_table_name(name)
    statements = delta_spark.planned_statements(table, "customer_churn_prediction", "src_view")
    assert len(statements) == 4
    assert statements[1].startswith("ALTER TABLE")
    assert "`project_name` STRING" in statements[1]
    for sql in statements:
        plan = parse(spark, sql)
        assert plan is not None
    create = statements[0]
    assert "CREATE TABLE IF NOT EXISTS `" in create
    assert all(c.name in create for c in COLUMNS)
    assert "TBLPROPERTIES" in create


def test_a_broken_statement_is_rejected_by_the_same_parser(spark: Any) -> None:
    from pyspark.errors import ParseException

    with pytest.raises(ParseException):
        spark.sql("MERGE INTO t USING s ON WHEN MATCHED")
    with pytest.raises(Exception, match="PARSE_SYNTAX_ERROR"):
        parse(spark, "MERGE INTO t USING s ON WHEN MATCHED")


@pytest.mark.parametrize(
    "name", ["a.b; DROP TABLE x", "`a`.b", "a..b", "a", "a.b.c.d", "1a.b", "a.b c", "a.b--"]
)
def test_invalid_table_names_never_reach_sql(name: str) -> None:
    with pytest.raises(TargetError, match="invalid tiers table name"):
        parse_table_name(name)


def test_the_active_session_is_used_for_table_names(spark: Any) -> None:
    from alignment_mlflow.tiers.writer import spark_for

    assert spark_for("main.churn.tiers") is spark
    assert spark_for("/tmp/tiers") is None


@pytest.mark.delta_spark
@pytest.mark.skipif(
    os.environ.get("ALIGNMENT_TEST_DELTA_SPARK") != "1",
    reason="needs Delta jars on the Spark classpath (ALIGNMENT_TEST_DELTA_SPARK=1); CI cannot download them",
)
def test_full_spark_path(spark: Any) -> None:
    from alignment_mlflow.tiers.writer import write_tiers

    spark.sql("CREATE SCHEMA IF NOT EXISTS alignment_test")
    first = write_tiers(
        "alignment_test.tiers", make_spec(), findings_path="f", run_id="r1", spark=spark
    )
    again = write_tiers(
        "alignment_test.tiers", make_spec(), findings_path="f", run_id="r2", spark=spark
    )
    assert first.changed
    assert not again.changed
    assert again.version == first.version
    from delta.tables import DeltaTable

    history = DeltaTable.forName(spark, "alignment_test.tiers").history(1).collect()[0]
    assert "r1" in history["userMetadata"]


OURS = '{"mlflow_run_id": "ours"}'


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # another writer's MERGE is newer: ours is found by our userMetadata
        (
            [
                {"version": 7, "operation": "MERGE", "userMetadata": '{"mlflow_run_id": "x"}'},
                {"version": 6, "operation": "MERGE", "userMetadata": OURS},
            ],
            6,
        ),
        # userMetadata refused (serverless): the newest MERGE scoped to our project
        (
            [
                {"version": 9, "operation": "WRITE"},
                {
                    "version": 8,
                    "operation": "MERGE",
                    "operationParameters": {
                        "notMatchedBySourcePredicates": '[{"predicate":"(t.project = \'other\')"}]'
                    },
                },
                {
                    "version": 5,
                    "operation": "MERGE",
                    "operationParameters": {
                        "notMatchedBySourcePredicates": '[{"predicate":"(t.project = \'churn\')"}]'
                    },
                },
            ],
            5,
        ),
        ([{"version": 3, "operation": "OPTIMIZE"}], None),
    ],
)
def test_the_committed_version_is_ours_not_the_newest(
    history: list[dict[str, Any]], expected: int | None
) -> None:
    assert delta_spark.committed_version(history, user_metadata=OURS, project="churn") == expected


def test_commit_metadata_is_best_effort_when_the_runtime_refuses_the_conf(
    spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spark refuses to modify a static conf, as serverless refuses userMetadata."""
    monkeypatch.setattr(delta_spark, "USER_METADATA", "spark.sql.warehouse.dir")
    assert delta_spark._set_user_metadata(spark, "{}") is False
    monkeypatch.undo()
    assert delta_spark._set_user_metadata(spark, "{}") is True
    assert delta_spark._set_user_metadata(spark, None) is True
