"""The Spark backend up to the Delta call: schema, rows, and SQL accepted by Spark's parser.

Spark's own SQL parser checks every statement we issue; ``test_spark_delta.py`` runs them on
real Delta tables (classic, Spark Connect and serverless-like sessions).
"""

from __future__ import annotations

from typing import Any

import pytest

from _specs import make_spec
from alignment_mlflow.errors import TargetError
from alignment_mlflow.tiers import delta_spark
from alignment_mlflow.tiers.schema import COLUMNS, parse_table_name, tier_rows

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark(classic_spark: Any) -> Any:
    """The test session's classic session (with Delta): one SparkContext per process."""
    return classic_spark


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


@pytest.mark.parametrize(
    "name",
    [
        "main.churn.intervention_tiers",
        "churn.tiers",
        # dev schemas come from the user's short name: a leading digit, letters beyond ASCII
        "main.1jdoe.intervention_tiers",
        "main.jürgen_müller.intervention_tiers",
    ],
)
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
    "name", ["a.b; DROP TABLE x", "`a`.b", "a..b", "a", "a.b.c.d", "a.b c", "a.b--", "a.b`c"]
)
def test_invalid_table_names_never_reach_sql(name: str) -> None:
    with pytest.raises(TargetError, match="invalid tiers table name"):
        parse_table_name(name)


def test_the_active_session_is_used_for_table_names(spark: Any) -> None:
    from alignment_mlflow.tiers.writer import spark_for

    assert spark_for("main.churn.tiers") is spark
    assert spark_for("/tmp/tiers") is None


def merge(version: int, project: str, **metrics: int) -> dict[str, Any]:
    scope = f"(t.project = '{project}')"
    return {
        "version": version,
        "operation": "MERGE",
        "operationParameters": {"notMatchedBySourcePredicates": f'[{{"predicate":"{scope}"}}]'},
        "operationMetrics": {
            "numTargetRowsInserted": str(metrics.get("inserted", 0)),
            "numTargetRowsUpdated": str(metrics.get("updated", 0)),
            "numTargetRowsDeleted": str(metrics.get("deleted", 0)),
        },
    }


COUNTS = {"inserted": 0, "updated": 1, "deleted": 0}


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # another project's MERGE is newer: ours is the one scoped to our project
        ([merge(7, "other", updated=1), merge(6, "churn", updated=1)], 6),
        # a newer MERGE of our project with other counts (another run) is not ours
        (
            [
                merge(9, "churn", inserted=3),
                {"version": 8, "operation": "WRITE"},
                merge(5, "churn", updated=1),
            ],
            5,
        ),
        # of two that fit, the first after the version we read
        ([merge(6, "churn", updated=1), merge(5, "churn", updated=1)], 5),
        # commits at or before the version we read are never ours
        ([merge(4, "churn", updated=1)], None),
        ([{"version": 3, "operation": "OPTIMIZE"}], None),
    ],
)
def test_the_committed_version_is_ours_not_the_newest(
    history: list[dict[str, Any]], expected: int | None
) -> None:
    got = delta_spark.committed_version(history, after=4, project="churn", counts=COUNTS)
    assert got == expected
