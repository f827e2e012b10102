"""``--holdout auto``: the smallest holdout that detects each tier's claim, or a warning."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from alignment_mlflow.outcomes.sizing import MONITOR_FRACTION, POWER, size_tier


def sm_power(control: float, claimed: float, holdout: int, customers: int) -> float:
    h = abs(proportion_effectsize(control, control * (1 - claimed)))
    return float(NormalIndPower().power(h, holdout, 0.05, ratio=(customers - holdout) / holdout))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=200, max_value=2_000_000),
    st.floats(min_value=0.02, max_value=0.9),
    st.floats(min_value=0.05, max_value=0.6),
)
def test_the_holdout_is_the_smallest_with_the_power(
    customers: int, control: float, claimed: float
) -> None:
    s = size_tier("T", customers, control, claimed)
    if s.detectable:
        assert sm_power(control, claimed, s.holdout, customers) >= POWER
        if s.holdout > 1:
            assert sm_power(control, claimed, s.holdout - 1, customers) < POWER
        assert s.holdout <= customers // 2
        assert s.warning is None
    else:
        assert sm_power(control, claimed, customers // 2, customers) < POWER
        assert s.fraction == round(customers * MONITOR_FRACTION) / customers
        assert s.warning is not None
        assert f"{s.needed_per_arm:,}" in s.warning


def test_the_notebooks_low_tier_at_monthly_volume_cannot_be_checked() -> None:
    """Low (<0.5) with '5% retention' on 15% churn needs ~35,000 customers per arm."""
    s = size_tier("Low", 40_000, 0.15, 0.05)
    assert not s.detectable
    assert s.needed_per_arm is not None
    assert 30_000 < s.needed_per_arm < 40_000
    assert "needs ~" in (s.warning or "")
    high = size_tier("High", 3_000, 0.88, 0.40)
    assert high.detectable
    assert 0 < high.fraction < 0.05
    assert math.isclose(high.fraction, high.holdout / 3_000)
