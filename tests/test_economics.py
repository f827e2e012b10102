"""Tier economics: the band table, the pure core, and the Arrow engine against the reference."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from _specs import make_spec, spec_data
from alignment_mlflow.bands.table import band_table
from alignment_mlflow.economics import arrow_engine, core, reference
from alignment_mlflow.economics.core import ScoresError
from alignment_mlflow.spec import load_spec

SPEC = make_spec()
TABLE = band_table(SPEC)
# Every end of every band, and the floats right beside them.
BOUNDARIES = sorted(
    {
        x
        for b in TABLE.bands
        for edge in (b.min_score, b.max_score)
        for x in (edge, math.nextafter(edge, -1.0), math.nextafter(edge, 2.0))
        if 0.0 <= x <= 1.0
    }
)


def arrow_tally(scores: list[float], groups: list[str] | None = None) -> tuple[Any, Any]:
    data: dict[str, Any] = {"customer_id": list(range(len(scores))), "churn_score": scores}
    if groups is not None:
        data["region"] = groups
    src = arrow_engine.open_scores(pa.table(data))
    return arrow_engine.tally(
        src,
        TABLE,
        id_column="customer_id",
        score_column="churn_score",
        group_columns=["region"] if groups is not None else [],
    )


def test_band_table_follows_the_spec_in_rank_order() -> None:
    assert [b.tier for b in TABLE.bands] == ["High", "Medium", "Low"]
    assert [b.paid for b in TABLE.bands] == [True, True, False]
    assert TABLE.currency == "USD"
    assert [b.cost for b in TABLE.bands] == [50.0, 10.0, 0.5]


@pytest.mark.parametrize("score", BOUNDARIES)
def test_every_engine_agrees_with_scoreband_contains_at_every_boundary(score: float) -> None:
    [expected] = [i for i, inter in enumerate(SPEC.interventions) if inter.band.contains(score)]
    assert TABLE.tier_of(score) == expected
    assert int(arrow_engine.band_index(TABLE, np.array([score]))[0]) == expected


def test_point_eight_is_medium_and_just_above_is_high() -> None:
    assert TABLE.bands[TABLE.tier_of(0.8)].tier == "Medium"
    assert TABLE.bands[TABLE.tier_of(math.nextafter(0.8, 1.0))].tier == "High"
    assert TABLE.bands[TABLE.tier_of(0.5)].tier == "Medium"
    assert TABLE.bands[TABLE.tier_of(math.nextafter(0.5, 0.0))].tier == "Low"
    assert TABLE.bands[TABLE.tier_of(0.0)].tier == "Low"
    assert TABLE.bands[TABLE.tier_of(1.0)].tier == "High"


def test_economics_of_a_small_known_population() -> None:
    scores = [0.9, 1.0, 0.8, 0.5, 0.1, 0.0]
    tally, top_k = arrow_tally(scores)
    e = core.economics(SPEC, TABLE, tally, top_k)
    assert [(t.tier, t.customers) for t in e.tiers] == [("High", 2), ("Medium", 2), ("Low", 2)]
    assert e.total_cost == pytest.approx(2 * 50 + 2 * 10 + 2 * 0.5)
    assert e.tiers[0].expected_saves == pytest.approx((0.9 + 1.0) * 0.4)
    assert e.tiers[1].expected_saves == pytest.approx((0.8 + 0.5) * 0.2)
    assert e.tiers[2].expected_saves == pytest.approx(0.1 * 0.05)
    assert e.tiers[0].mean_score == pytest.approx(0.95)
    assert e.expected_saves == pytest.approx(sum(t.expected_saves for t in e.tiers))
    assert e.cost_per_expected_save == pytest.approx(e.total_cost / e.expected_saves)
    assert e.budget is not None
    assert (e.budget.amount, e.budget.period) == (50_000.0, "monthly")
    assert e.within_budget is True
    assert e.budget_utilisation == pytest.approx(121 / 50_000)
    assert e.allocation is None


def test_over_budget_allocation_takes_tiers_in_full_then_the_top_of_the_next() -> None:
    data = spec_data()
    data["business_context"]["budget_constraints"] = "$130 per month"
    spec = load_spec(data)
    scores = [0.95, 0.85, 0.7, 0.6, 0.55, 0.52, 0.1]
    tally, top_k = arrow_tally(scores)
    e = core.economics(spec, band_table(spec), tally, top_k)
    assert e.within_budget is False
    a = e.allocation
    assert a is not None
    # High (2 x 50 = 100) fits; 30 left buys 3 Medium customers at 10: 0.7, 0.6, 0.55.
    assert a.tiers_in_full == ("High",)
    assert (a.partial_tier, a.partial_customers, a.customers) == ("Medium", 3, 5)
    assert a.cost == pytest.approx(130.0)
    assert a.score_cutoff == pytest.approx(0.55)
    assert a.expected_saves == pytest.approx((0.95 + 0.85) * 0.4 + (0.7 + 0.6 + 0.55) * 0.2)
    # the reference engine agrees
    t2, _, top2 = reference.tally_rows(
        band_table(spec),
        [{"id": i, "s": s} for i, s in enumerate(scores)],
        id_column="id",
        score_column="s",
    )
    b = core.economics(spec, band_table(spec), t2, top2).allocation
    assert b is not None
    assert (b.tiers_in_full, b.partial_tier, b.partial_customers, b.score_cutoff) == (
        a.tiers_in_full,
        a.partial_tier,
        a.partial_customers,
        a.score_cutoff,
    )
    assert b.expected_saves == pytest.approx(a.expected_saves)


def test_a_budget_too_small_for_the_first_tier_funds_its_top_customers() -> None:
    data = spec_data()
    data["business_context"]["budget_constraints"] = "$60 per month"
    spec = load_spec(data)
    tally, top_k = arrow_tally([0.95, 0.85, 0.99, 0.2])
    a = core.economics(spec, band_table(spec), tally, top_k).allocation
    assert a is not None
    assert (a.tiers_in_full, a.partial_tier, a.partial_customers) == ((), "High", 1)
    assert a.score_cutoff == pytest.approx(0.99)


def test_parity_is_min_share_over_max_share_and_judged_against_the_spec_target() -> None:
    # group a: 2 of 4 paid (0.5); group b: 1 of 4 paid (0.25) -> ratio 0.5 < 0.8
    scores = [0.9, 0.6, 0.1, 0.2, 0.9, 0.1, 0.2, 0.3]
    groups = ["a"] * 4 + ["b"] * 4
    tally, top_k = arrow_tally(scores, groups)
    e = core.economics(SPEC, TABLE, tally, top_k)
    [p] = e.parity
    assert p.ratio == pytest.approx(0.5)
    assert p.groups == (("a", 4, 2, 0.5), ("b", 4, 1, 0.25))
    assert e.parity_target is not None
    assert e.parity_target.target_text == "Ratio >= 0.8"
    assert e.parity_met is False
    assert e.demographic_parity_ratio == pytest.approx(0.5)
    tally, top_k = arrow_tally([0.9, 0.1, 0.9, 0.1], ["a", "a", "b", "b"])
    assert core.economics(SPEC, TABLE, tally, top_k).parity_met is True


@pytest.mark.parametrize(
    ("target", "ratio", "met"),
    [("Ratio >= 0.8", 0.8, True), ("Ratio > 0.8", 0.8, False), ("Ratio <= 0.5", 0.5, True)],
)
def test_parity_target_uses_the_threshold_operator_exactly(
    target: str, ratio: float, met: bool
) -> None:
    data = spec_data()
    for m in data["success_metrics"]:
        if "Parity" in m["metric"]:
            m["target"] = target
    spec = load_spec(data)
    t = core.parity_target(spec.success_metrics)
    assert t is not None
    assert t.threshold.is_met(ratio) is met  # type: ignore[attr-defined]


def test_no_parity_target_and_no_groups_means_not_judged() -> None:
    data = spec_data()
    data["success_metrics"] = [m for m in data["success_metrics"] if "Parity" not in m["metric"]]
    spec = load_spec(data)
    tally, top_k = arrow_tally([0.9, 0.1], ["a", "b"])
    e = core.economics(spec, band_table(spec), tally, top_k)
    assert e.parity_target is None
    assert e.parity_met is None
    tally, top_k = arrow_tally([0.9, 0.1])
    assert core.economics(SPEC, TABLE, tally, top_k).parity == ()


@pytest.mark.parametrize(
    ("scores", "ids", "needle"),
    [
        ([0.1, None, 0.3], [1, 2, 3], "1 null scores (first ids: 2)"),
        ([0.1, float("nan"), 0.3], [1, 2, 3], "1 NaN scores (first ids: 2)"),
        ([0.1, 1.5, -0.1], [1, 2, 3], "2 scores outside [0, 1] (first ids: 2, 3)"),
        ([0.1, 0.2, 0.3], [7, 7, 8], "1 duplicate ids (rows beyond the first) (first ids: 7)"),
        (
            [0.1, 0.2, 0.3],
            ["a", "b", "a"],
            "1 duplicate ids (rows beyond the first) (first ids: a)",
        ),
    ],
)
def test_bad_scores_name_the_column_the_count_and_the_first_ids(
    scores: list[Any], ids: list[Any], needle: str
) -> None:
    src = arrow_engine.open_scores(pa.table({"cid": ids, "p": pa.array(scores, pa.float64())}))
    with pytest.raises(ScoresError) as err:
        arrow_engine.tally(src, TABLE, id_column="cid", score_column="p")
    assert needle in str(err.value)
    assert err.value.exit_code == 2
    with pytest.raises(ScoresError) as ref_err:
        reference.tally_rows(
            TABLE,
            [{"cid": i, "p": s} for i, s in zip(ids, scores, strict=True)],
            id_column="cid",
            score_column="p",
        )
    assert needle in str(ref_err.value)


def test_missing_column_and_empty_table() -> None:
    src = arrow_engine.open_scores(pa.table({"customer_id": [1], "score": [0.2]}))
    with pytest.raises(
        ScoresError, match=r"no score column 'churn_score' \(columns: customer_id, score\)"
    ):
        arrow_engine.tally(src, TABLE, id_column="customer_id", score_column="churn_score")
    empty = arrow_engine.open_scores(
        pa.table(
            {"customer_id": pa.array([], pa.int64()), "churn_score": pa.array([], pa.float64())}
        )
    )
    with pytest.raises(ScoresError, match="empty"):
        arrow_engine.tally(empty, TABLE, id_column="customer_id", score_column="churn_score")


def test_a_non_numeric_score_column_is_refused() -> None:
    src = arrow_engine.open_scores(pa.table({"customer_id": [1], "churn_score": ["0.2"]}))
    with pytest.raises(ScoresError, match="has type string"):
        arrow_engine.tally(src, TABLE, id_column="customer_id", score_column="churn_score")


scores_strategy = st.lists(
    st.one_of(
        st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
        st.sampled_from(BOUNDARIES),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(scores=scores_strategy, seed=st.integers(0, 3))
def test_arrow_engine_matches_the_reference(scores: list[float], seed: int) -> None:
    groups = [("a", "b", "c")[(i + seed) % 3] for i in range(len(scores))]
    tally, top_k = arrow_tally(scores, groups)
    ref, assigned, ref_top = reference.tally_rows(
        TABLE,
        [
            {"customer_id": i, "churn_score": s, "region": g}
            for i, (s, g) in enumerate(zip(scores, groups, strict=True))
        ],
        id_column="customer_id",
        score_column="churn_score",
        group_columns=["region"],
    )
    assert tally.counts == ref.counts
    assert sum(tally.counts) == len(scores)
    assert tally.score_sums == pytest.approx(ref.score_sums, rel=1e-12, abs=1e-12)
    assert tally.groups == ref.groups
    assert list(arrow_engine.band_index(TABLE, np.array(scores))) == assigned
    for i, n in enumerate(ref.counts):
        if n:
            assert top_k(i, n)[0] == ref_top(i, n)[0]


@settings(max_examples=100, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=3, max_size=3),
    budget=st.floats(min_value=0, max_value=5000, allow_nan=False),
)
def test_allocation_never_exceeds_the_budget_and_is_highest_risk_first(
    counts: list[int], budget: float
) -> None:
    data = spec_data()
    data["business_context"]["budget_constraints"] = f"${budget:.2f} per month"
    spec = load_spec(data)
    scores = [0.9] * counts[0] + [0.6] * counts[1] + [0.2] * counts[2]
    if not scores:
        return
    tally, top_k = arrow_tally(scores)
    e = core.economics(spec, band_table(spec), tally, top_k)
    assert e.budget is not None
    if e.within_budget:
        assert e.total_cost <= e.budget.amount + 1e-6
        return
    a = e.allocation
    assert a is not None
    assert a.cost <= e.budget.amount + 1e-6
    order = [t.tier for t in e.tiers if t.customers]
    assert list(a.tiers_in_full) == order[: len(a.tiers_in_full)]
    if a.partial_tier is not None:
        line = next(t for t in e.tiers if t.tier == a.partial_tier)
        # one more customer of the partial tier would not fit
        assert a.cost + line.cost_per_customer > e.budget.amount - 1e-6


def _duplicate_count(batches: list[list[int]], rows: int) -> int:
    dups = arrow_engine._Duplicates(rows)
    for b in batches:
        dups.add(pa.array(b, pa.int64()))
    return dups.count()


@settings(max_examples=300, deadline=None)
@given(
    ids=st.lists(
        st.one_of(
            st.integers(-50, 50),
            st.integers(-(2**63), 2**63 - 1),  # sparse: beyond the map's span
            st.integers(10**6, 10**6 + 20),
        ),
        max_size=120,
    ),
    cuts=st.lists(st.integers(0, 120), max_size=6),
    claimed_rows=st.integers(0, 200),
)
@example(ids=[5, 5, 10**6], cuts=[2], claimed_rows=10)  # repeats counted before the map gives up
@example(ids=[100, 7, 3, 7, 100], cuts=[1, 2, 3], claimed_rows=5)  # the map grows downwards
def test_duplicate_count_is_rows_minus_distinct_however_the_batches_fall(
    ids: list[int], cuts: list[int], claimed_rows: int
) -> None:
    # The map grows up and down with the batches and falls back to sorting when the ids are too
    # sparse (or more rows arrive than the footers promised); the count must never change.
    edges = sorted({0, len(ids), *(c for c in cuts if c <= len(ids))})
    batches = [ids[a:b] for a, b in itertools.pairwise(edges)]
    assert _duplicate_count(batches, claimed_rows) == len(ids) - len(set(ids))


def test_sorted_batches_grow_the_map_a_few_times_not_once_per_batch() -> None:
    dups = arrow_engine._Duplicates(64 << 16)
    sizes = set()
    for start in range(0, 64 << 16, 1 << 16):
        dups.add(pa.array(np.arange(start, start + (1 << 16))))
        assert dups.seen is not None
        sizes.add(len(dups.seen))
    assert len(sizes) <= 7  # doubling: 64 batches, at most log2(64) + 1 sizes
    assert dups.count() == 0


def test_integer_duplicates_far_apart_are_named_from_a_second_read() -> None:
    ids = np.arange(3_000_000, dtype=np.int64)
    ids[2_999_999] = 17  # the last batch repeats an id of the first
    ids[1_500_000] = 2_000_000
    src = arrow_engine.open_scores(
        pa.table({"customer_id": ids, "churn_score": np.full(len(ids), 0.3)})
    )
    with pytest.raises(ScoresError) as err:
        arrow_engine.tally(src, TABLE, id_column="customer_id", score_column="churn_score")
    assert "2 duplicate ids (rows beyond the first) (first ids: " in str(err.value)
    assert "17" in str(err.value)
    assert "2000000" in str(err.value)
