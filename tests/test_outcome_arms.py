"""Arms are Spark's own xxhash64 of (campaign key, id): NumPy and Spark SQL agree on every id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignment_mlflow.outcomes import arms

KEY = arms.campaign_key("customer_churn_prediction", "2026-12")


@pytest.fixture(scope="module")
def spark(classic_spark: Any) -> Any:
    """The session-wide classic session (tests/_spark.py): a session of our own would be the
    same JVM's (getOrCreate), and stopping it would stop everyone's."""
    return classic_spark


STRINGS = ["", "a", "abc", "abcd", "12345678", "customer-000001", "ü-ß-€-漢字", "x" * 31,
           "y" * 32, "z" * 33, "w" * 64, "v" * 77]  # fmt: skip
LONGS = [0, 1, -1, 2**31, 2**40 + 7, -(2**63), 2**63 - 1, 123_456_789]


@pytest.mark.spark
def test_numpy_hashes_equal_spark_xxhash64(spark: Any) -> None:
    from pyspark.sql import types as T

    longs = spark.createDataFrame(
        [(v,) for v in LONGS], T.StructType([T.StructField("id", T.LongType())])
    )
    got = [r[0] for r in longs.selectExpr(f"xxhash64(CAST({KEY} AS BIGINT), id)").collect()]
    mine = arms.hash_ids(np.array(LONGS, dtype=np.int64), KEY).view(np.int64).tolist()
    assert mine == got
    strings = spark.createDataFrame([(v,) for v in STRINGS], "id string")
    got = [r[0] for r in strings.selectExpr(f"xxhash64(CAST({KEY} AS BIGINT), id)").collect()]
    assert arms.hash_ids(STRINGS, KEY).view(np.int64).tolist() == got


@pytest.mark.spark
def test_spark_sql_holds_out_the_same_customers(spark: Any) -> None:
    ids = list(range(5_000))
    frame = spark.createDataFrame([(i,) for i in ids], "id bigint")
    for fraction in (0.0, 0.1, 0.5, 1.0):
        cut = arms.signed_threshold(fraction)
        rows = frame.selectExpr("id", f"{arms.spark_sql(KEY, 'id', str(cut))} AS held").collect()
        spark_held = {r["id"] for r in rows if r["held"]}
        mine = arms.held_out(arms.hash_ids(np.array(ids), KEY), np.full(len(ids), fraction))
        assert spark_held == {i for i, h in zip(ids, mine, strict=True) if h}
        assert abs(len(spark_held) / len(ids) - fraction) < 0.03


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=50))
def test_an_arm_depends_on_the_id_alone(values: list[int]) -> None:
    """The same id gets the same hash in any batch, order or neighbourhood."""
    whole = arms.hash_ids(np.array(values, dtype=np.int64), KEY)
    for i, v in enumerate(values):
        assert arms.hash_ids(np.array([v], dtype=np.int64), KEY)[0] == whole[i]
    assert arms.hash_ids([str(v) for v in values], KEY).tolist() == [
        arms.hash_ids([str(v)], KEY)[0] for v in values
    ]


def test_campaigns_and_projects_draw_different_arms() -> None:
    ids = np.arange(20_000)
    a = arms.held_out(arms.hash_ids(ids, KEY), np.full(len(ids), 0.5))
    other = arms.campaign_key("customer_churn_prediction", "2027-01")
    b = arms.held_out(arms.hash_ids(ids, other), np.full(len(ids), 0.5))
    assert 0.45 < (a == b).mean() < 0.55  # independent draws agree half the time
    assert arms.threshold(0.0) == 0
    assert arms.threshold(1.0) == 2**64
    with pytest.raises(ValueError, match="not within"):
        arms.threshold(1.5)
