"""The human-string parsers: every documented example, the invalid cases, and properties."""

from __future__ import annotations

import contextlib
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignment_mlflow.spec.model import ScoreBand
from alignment_mlflow.spec.parsing import (
    RiskLevel,
    parse_budget,
    parse_money,
    parse_priority,
    parse_rate,
    parse_risk_level,
    parse_schedule,
    parse_scoring_modes,
    parse_status,
    parse_threshold,
    partition_bands,
    slugify,
)


@pytest.mark.parametrize(
    ("text", "op", "value", "unit", "qualifier", "label"),
    [
        (">= 0.80", ">=", 0.8, None, None, None),
        ("> 0.8", ">", 0.8, None, None, None),
        ("<= 5", "<=", 5.0, None, None, None),
        ("< 100ms", "<", 100.0, "ms", None, None),
        ("< 100ms p99", "<", 100.0, "ms", "p99", None),
        ("Ratio >= 0.8", ">=", 0.8, None, None, "Ratio"),
        ("20%", ">=", 0.2, "%", None, None),
        ("== 1", "==", 1.0, None, None, None),
        ("< 2 s p95", "<", 2.0, "s", "p95", None),
        ("≥ 0.7", ">=", 0.7, None, None, None),
    ],
)
def test_thresholds(
    text: str, op: str, value: float, unit: str | None, qualifier: str | None, label: str | None
) -> None:
    t = parse_threshold(text)
    assert (t.operator, t.unit, t.qualifier, t.label) == (op, unit, qualifier, label)
    assert math.isclose(t.value, value)
    assert t.text == text


@pytest.mark.parametrize("text", ["", "high", ">=", "about 0.8", ">= 0.8 bananas", "Ratio 0.8"])
def test_bad_thresholds_name_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="write it like"):
        parse_threshold(text)


def test_threshold_is_met() -> None:
    assert parse_threshold(">= 0.80").is_met(0.8)
    assert not parse_threshold("< 100ms").is_met(100)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Model AUC", "model_auc"),
        ("Precision at 20%", "precision_at_20pct"),
        ("Fairness (Demographic Parity)", "fairness_demographic_parity"),
        ("Customer Churn Prediction", "customer_churn_prediction"),
        ("  Churn-Rate   Reduction ", "churn_rate_reduction"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


@given(st.text(min_size=1, max_size=40))
def test_slug_is_a_valid_mlflow_key_segment(text: str) -> None:
    slug = slugify(text)
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in slug)
    if any(c.isascii() and c.isalnum() for c in text):
        assert slug


@pytest.mark.parametrize(
    ("text", "tier", "band"),
    [
        ("High (>0.8)", "High", ScoreBand(0.8, 1.0, False, True)),
        ("Medium (0.5-0.8)", "Medium", ScoreBand(0.5, 0.8, True, True)),
        ("Low (<0.5)", "Low", ScoreBand(0.0, 0.5, True, False)),
        (">= 0.8", "[0.8, 1]", ScoreBand(0.8, 1.0, True, True)),
        ("0.5 to 0.8", "[0.5, 0.8]", ScoreBand(0.5, 0.8, True, True)),
        ("[0.5, 0.8)", "[0.5, 0.8)", ScoreBand(0.5, 0.8, True, False)),
        ("Very High (0.9, 1]", "Very High", ScoreBand(0.9, 1.0, False, True)),
    ],
)
def test_risk_levels(text: str, tier: str, band: ScoreBand) -> None:
    level = parse_risk_level(text)
    assert level.tier == tier
    assert level.band == band


@pytest.mark.parametrize(
    "text", ["High", "High (>1.5)", "Low (<-0.1)", "Mid (0.8-0.5)", "(0.5, 0.5)", "Top (~0.8)"]
)
def test_bad_risk_levels(text: str) -> None:
    with pytest.raises(ValueError, match="risk level"):
        parse_risk_level(text)


def levels(*texts: str) -> list[RiskLevel]:
    return [parse_risk_level(t) for t in texts]


def test_notebook_bands_partition_with_point_eight_in_medium() -> None:
    ordered, problems = partition_bands(levels("Low (<0.5)", "High (>0.8)", "Medium (0.5-0.8)"))
    assert problems == []
    assert [lv.tier for lv in ordered] == ["High", "Medium", "Low"]
    medium = ordered[1].band
    assert medium.contains(0.8)
    assert not ordered[0].band.contains(0.8)


def test_closed_range_yields_to_an_inclusive_operator_neighbour() -> None:
    ordered, problems = partition_bands(levels("High (>=0.8)", "Medium (0.5-0.8)", "Low (<0.5)"))
    assert problems == []
    assert ordered[0].band.contains(0.8)
    assert not ordered[1].band.contains(0.8)


def test_adjacent_ranges_read_as_half_open_bins() -> None:
    ordered, problems = partition_bands(levels("A (0-0.5)", "B (0.5-0.8)", "C (0.8-1)"))
    assert problems == []
    assert ordered[1].band.contains(0.5)
    assert not ordered[1].band.contains(0.8)


@pytest.mark.parametrize(
    ("texts", "fragment"),
    [
        (("High (>0.9)", "Medium (0.5-0.8)", "Low (<0.5)"), "gap (0.8, 0.9] between tiers 'Medium' and 'High'"),
        (("High (>=0.7)", "Medium (0.5-0.8)", "Low (<0.5)"), "overlap [0.7, 0.8] between tiers 'Medium' and 'High'"),
        (("High (>0.8)", "Low (<0.8)"), "gap at 0.8 between tiers 'Low' and 'High'"),
        (("High (>=0.8)", "Low (<=0.8)"), "overlap at 0.8"),
        (("High (>0.8)", "Medium (0.5-0.8)"), "gap [0, 0.5) below tier 'Medium'"),
        (("Medium (0.5-0.8)", "Low (<0.5)"), "gap (0.8, 1] above tier 'Medium'"),
    ],
)  # fmt: skip
def test_band_gaps_and_overlaps_name_both_tiers(texts: tuple[str, ...], fragment: str) -> None:
    _, problems = partition_bands(levels(*texts))
    assert any(fragment in p for p in problems), problems


@st.composite
def partitions(draw: st.DrawFn) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=6)))
    points = [0, *cuts, 100]
    texts = []
    for i, (lo, hi) in enumerate(itertools.pairwise(points)):
        lo_s, hi_s = f"{lo / 100:g}", f"{hi / 100:g}"
        if i == 0:
            texts.append(f"T{i} (<{hi_s})")
        elif i == len(points) - 2:
            texts.append(f"T{i} (>={lo_s})")
        else:
            texts.append(f"T{i} [{lo_s}, {hi_s})")
    return draw(st.permutations(texts))


@given(partitions(), st.floats(0, 1))
def test_any_partition_is_accepted_and_every_score_has_one_tier(
    texts: list[str], score: float
) -> None:
    ordered, problems = partition_bands(levels(*texts))
    assert problems == []
    assert sum(lv.band.contains(score) for lv in ordered) == 1
    mins = [lv.band.min_score for lv in ordered]
    assert mins == sorted(mins, reverse=True)


@given(partitions(), st.integers(1, 99))
def test_moving_a_boundary_makes_a_gap_or_overlap(texts: list[str], shift: int) -> None:
    lv = levels(*texts)
    victim = max(lv, key=lambda x: x.band.min_score)  # the top band, ">= x"
    moved_min = victim.band.min_score + (
        shift / 1000 if victim.band.min_score < 0.9 else -shift / 1000
    )
    moved = RiskLevel(victim.tier, ScoreBand(moved_min, 1.0, True, True), False)
    _, problems = partition_bands([moved if x is victim else x for x in lv])
    assert problems


@pytest.mark.parametrize(
    ("text", "amount", "currency", "unit"),
    [
        ("$50/customer", 50.0, "USD", "customer"),
        ("$0.50/customer", 0.5, "USD", "customer"),
        ("€10 per customer", 10.0, "EUR", "customer"),
        ("50 USD/customer", 50.0, "USD", "customer"),
        ("£5", 5.0, "GBP", None),
        ("EUR 12.5 per account", 12.5, "EUR", "account"),
    ],
)
def test_money(text: str, amount: float, currency: str, unit: str | None) -> None:
    m = parse_money(text)
    assert (m.amount, m.currency, m.unit) == (amount, currency, unit)


@pytest.mark.parametrize("text", ["-$5/customer", "$-5", "-5 USD"])
def test_negative_cost_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_money(text)


@pytest.mark.parametrize("text", ["free", "fifty dollars", "$/customer", "about $5 or so"])
def test_non_numeric_cost_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="cost"):
        parse_money(text)


def test_budget() -> None:
    b = parse_budget("$50k for retention campaigns per month")
    assert b is not None
    assert (b.amount, b.currency, b.period) == (50000.0, "USD", "monthly")
    assert parse_budget("to be agreed") is None


@pytest.mark.parametrize(
    ("text", "value", "label"),
    [("40% retention", 0.4, "retention"), ("0.4", 0.4, None), ("5 %", 0.05, None)],
)
def test_rates(text: str, value: float, label: str | None) -> None:
    r = parse_rate(text)
    assert math.isclose(r.value, value)
    assert r.label == label


@pytest.mark.parametrize("text", ["140% retention", "1.5", "-0.1", "lots"])
def test_rates_outside_zero_one_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate"):
        parse_rate(text)


def test_deployment_strings() -> None:
    s = parse_schedule("Monthly or on significant drift")
    assert s is not None
    assert (s.period, s.on_drift) == ("monthly", True)
    daily = parse_schedule("Daily")
    assert daily is not None
    assert daily.period == "daily"
    assert parse_schedule("whenever") is None
    assert parse_scoring_modes("Both batch and real-time") == {"batch", "real_time"}
    assert parse_scoring_modes("Batch") == {"batch"}
    assert parse_scoring_modes("on request") is None


@pytest.mark.parametrize(
    ("text", "status"),
    [("To verify", "to_verify"), ("PASSED", "passed"), ("failed", "failed"), ("Manual", "manual")],
)
def test_status(text: str, status: str) -> None:
    assert parse_status(text) == status


def test_bad_status_and_priority() -> None:
    with pytest.raises(ValueError, match="To verify"):
        parse_status("maybe")
    assert parse_priority("high") == "High"
    with pytest.raises(ValueError, match="High, Medium or Low"):
        parse_priority("urgent")


PARSERS = [parse_threshold, parse_risk_level, parse_money, parse_rate, parse_status]


@settings(max_examples=300)
@given(st.sampled_from(PARSERS), st.text(max_size=30))
def test_garbage_raises_value_error_or_parses(parser: object, text: str) -> None:
    with contextlib.suppress(ValueError):
        parser(text)  # type: ignore[operator]


@given(st.floats(0, 1000, allow_nan=False), st.sampled_from([">=", ">", "<=", "<", "=="]))
def test_threshold_roundtrips_operator_and_value(value: float, op: str) -> None:
    t = parse_threshold(f"{op} {value!r}")
    assert t.operator == op
    assert math.isclose(t.value, value)


@given(st.decimals(0, 10000, places=2))
def test_money_amount_roundtrips(amount: object) -> None:
    m = parse_money(f"${amount}/customer")
    assert math.isclose(m.amount, float(str(amount)))
