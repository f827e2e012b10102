"""The band table's SQL compilation agrees with the scalar reference (``BandTable.tier_of``) on
every boundary and on any score, evaluated by a real SQL engine (sqlite3; Spark SQL in
test_plan_spark.py)."""

from __future__ import annotations

import math
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _specs import make_spec
from alignment_mlflow.bands.sql import band_index_sql, double
from alignment_mlflow.bands.table import band_table

TABLE = band_table(make_spec())
EDGES = sorted(
    {
        x
        for b in TABLE.bands
        for edge in (b.min_score, b.max_score)
        for x in (edge, math.nextafter(edge, -1.0), math.nextafter(edge, 2.0))
    }
)


def _sql_tiers(scores: list[float]) -> list[int | None]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE s (i INTEGER, churn_score REAL)")
    db.executemany("INSERT INTO s VALUES (?, ?)", list(enumerate(scores)))
    query = f"SELECT {band_index_sql(TABLE, 'churn_score')} FROM s ORDER BY i"
    return [row[0] for row in db.execute(query)]


def _reference(score: float) -> int | None:
    i = TABLE.tier_of(score)
    return None if i < 0 else i


def test_every_boundary_lands_in_the_reference_tier() -> None:
    assert _sql_tiers(EDGES) == [_reference(s) for s in EDGES]
    assert TABLE.bands[_sql_tiers([0.8])[0] or 0].tier == "Medium"


@given(st.lists(st.floats(min_value=-0.5, max_value=1.5), min_size=1, max_size=50))
def test_any_score_lands_in_the_reference_tier(scores: list[float]) -> None:
    assert _sql_tiers(scores) == [_reference(s) for s in scores]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_bound_reads_back_as_the_same_double(value: float) -> None:
    assert float(double(value)) == value


@pytest.mark.parametrize("column", ["x; DROP TABLE s", "a b", "`x`", "1x", "a.b.c", ""])
def test_only_plain_identifiers_are_written_into_the_sql(column: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        band_index_sql(TABLE, column)


# --------------------------------------------------------------------------- the exact-value rule


def test_a_float32_score_is_compared_as_its_exact_value() -> None:
    """float32(0.8) is 0.800000011920929: above 0.8, so High, as Spark (which widens) says. NumPy
    2 compares a float32 with 0.8 in float32 and would call it Medium."""
    import numpy as np

    from alignment_mlflow.bands.arrays import band_index, tier_index

    f32 = np.float32(0.8)
    assert float(f32) > 0.8
    assert TABLE.bands[TABLE.tier_of(f32)].tier == "High"
    assert TABLE.bands[TABLE.tier_of(0.8)].tier == "Medium"
    scores = np.array([0.8, 0.5, 0.0, 1.0], dtype=np.float32)
    assert band_index(TABLE, scores).tolist() == [TABLE.tier_of(float(s)) for s in scores]
    assert tier_index(TABLE, scores).tolist() == [0, 1, 2, 0]


def test_nan_none_and_out_of_range_scores_are_in_no_band() -> None:
    import numpy as np

    from alignment_mlflow.bands.arrays import NO_BAND, tier_index

    bad = [math.nan, -0.1, 1.1, math.inf, -math.inf]
    assert [TABLE.tier_of(s) for s in [*bad, None]] == [-1] * (len(bad) + 1)
    assert tier_index(TABLE, np.array(bad)).tolist() == [NO_BAND] * len(bad)
    assert _sql_tiers(bad[1:]) == [None] * 4  # sqlite stores NaN as NULL
