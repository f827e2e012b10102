"""The outcome verdicts: rules, edges, and coverage on synthetic campaigns with known effects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alignment_mlflow.outcomes import stats
from alignment_mlflow.outcomes.judge import TierCounts, judge, verdict_for


def tier(name: str = "High", treated: int = 9_000, holdout: int = 1_000, ct: int = 540,
         ch: int = 100, claimed: float = 0.4, planned: float = 0.1) -> TierCounts:  # fmt: skip
    return TierCounts(name, treated, holdout, ct, ch, 50.0, claimed, treated * 0.1 * claimed,
                      planned)  # fmt: skip


@given(st.floats(-1, 1), st.floats(0, 1), st.floats(-1, 1))
def test_the_interval_decides_never_the_point(low: float, width: float, target: float) -> None:
    interval = (low, low + width)
    got = verdict_for(interval, target)
    if low >= target:
        assert got == "met"
    elif low + width < target:
        assert got == "not_met"
    else:
        assert got == "inconclusive"
    assert verdict_for(None, target) == "inconclusive"


def test_one_tier_programme_is_that_tiers_log_adjusted_interval() -> None:
    c = tier()
    out = judge([c], target=0.2)
    (t,) = out.tiers
    low, high = stats.ratio_interval(c.churned_treated, c.treated, c.churned_holdout, c.holdout)
    assert t.reduction_ci == pytest.approx((1 - high, 1 - low), rel=1e-12)
    assert out.programme.reduction_ci == pytest.approx(t.reduction_ci, rel=1e-12)
    assert t.reduction == pytest.approx(1 - 0.06 / 0.10)
    assert t.realised_saves == pytest.approx((0.10 - 0.06) * 9_000)
    assert t.cost_per_save == pytest.approx(9_000 * 50 / 360)
    assert t.spend == 450_000
    assert out.srm_failed is False


def test_a_sample_ratio_mismatch_makes_every_verdict_inconclusive() -> None:
    good = judge([tier(ct=100, ch=100)], target=0.2)  # an obvious effect...
    assert good.tiers[0].verdict == "met"
    lost = judge([tier(treated=9_000, holdout=700, ct=100, ch=70)], target=0.2)  # ...on bad arms
    assert lost.srm_failed
    assert lost.srm_p < 1e-10
    assert {t.verdict for t in lost.tiers} == {"inconclusive"}
    assert lost.verdict == "inconclusive"
    assert "sample-ratio mismatch" in lost.tiers[0].reason
    assert "sample-ratio mismatch" in lost.programme.reason


def test_edges_say_why_nothing_can_be_measured() -> None:
    out = judge([tier(ch=0, ct=0), tier("Low", holdout=0, ch=0, planned=0.0)], target=0.2)
    high, low = out.tiers
    assert high.reduction is None
    assert high.verdict == "inconclusive"
    assert low.verdict == "inconclusive"
    assert "no held-out customers" in low.reason
    assert judge([tier()], target=None).programme.verdict == "inconclusive"
    assert "names no business target" in judge([tier()], target=None).programme.reason


def test_verdicts_follow_the_claims() -> None:
    big = {"treated": 90_000, "holdout": 10_000, "planned": 0.1}
    assert judge([tier(**big, ct=4_500, ch=1_000, claimed=0.4)], 0.2).tiers[0].verdict == "met"
    assert judge([tier(**big, ct=9_000, ch=1_000, claimed=0.4)], 0.2).tiers[0].verdict == "not_met"
    assert judge([tier(ct=560, ch=100, claimed=0.4)], 0.2).tiers[0].verdict == "inconclusive"


# ------------------------------------------------------------------ coverage, known effects

TIERS = [  # name, customers, held out, control churn, true reduction
    ("High", 4_000, 0.2, 0.45, 0.40),
    ("Medium", 12_000, 0.1, 0.20, 0.20),
    ("Low", 30_000, 0.05, 0.06, 0.05),
]


def _campaign(seed: int) -> list[TierCounts]:
    rng = np.random.default_rng(seed)
    out = []
    for name, n, frac, control, effect in TIERS:
        holdout = int(rng.binomial(n, frac))
        treated = n - holdout
        out.append(
            TierCounts(name, treated, holdout, int(rng.binomial(treated, control * (1 - effect))),
                       int(rng.binomial(holdout, control)), 1.0, effect, 0.0, frac)
        )  # fmt: skip
    return out


def test_intervals_cover_the_known_effects_at_their_stated_level() -> None:
    """600 seeded campaigns: each 95% interval holds the true effect 95% of the time (binomial
    bounds for 600 draws at 95%: 0.93 to 0.97; a miscalibrated interval leaves them)."""
    sizes = np.array([n for _, n, *_ in TIERS], dtype=float)
    weights = sizes / sizes.sum()
    controls = np.array([c for *_, c, _ in TIERS])
    effects = np.array([e for *_, e in TIERS])
    true_programme = 1 - (weights * controls * (1 - effects)).sum() / (weights * controls).sum()
    seeds = 600
    hits = np.zeros(len(TIERS) + 1)
    for seed in range(seeds):
        out = judge(_campaign(seed), target=0.2)
        for i, t in enumerate(out.tiers):
            assert t.reduction_ci is not None
            hits[i] += t.reduction_ci[0] <= effects[i] <= t.reduction_ci[1]
        ci = out.programme.reduction_ci
        assert ci is not None
        hits[-1] += ci[0] <= true_programme <= ci[1]
    coverage = hits / seeds
    assert all(0.93 <= c <= 0.975 for c in coverage), coverage
    assert math.isclose(true_programme, 0.215, abs_tol=1e-3)
