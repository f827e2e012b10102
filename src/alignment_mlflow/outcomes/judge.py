"""The campaign's measured outcome against what the plan claimed: per tier and for the programme.

Pure: counts in, frozen verdicts out. An engine (Arrow, Spark) reduces the assignments joined
with the outcomes to one :class:`TierCounts` per tier; everything a reader sees is computed here,
once.

The rule for every verdict is the interval's, never the point estimate's: ``met`` when the
interval's lower bound reaches the target, ``not_met`` when its upper bound stays below it, else
``inconclusive`` (the campaign was too small to tell). A sample-ratio mismatch (the arms are not
the sizes the plan drew, p < :data:`SRM_ALPHA`) makes every verdict ``inconclusive``: effects
measured on arms that lost customers unevenly are not to be trusted.

The programme's reduction weighs each tier by its size (treated + held out), so tiers held out
at different fractions (``--holdout auto``) are not mixed into a biased pooled rate; its interval
is the delta method on the log of the weighted ratio with half a count added per arm, which for a
single tier is exactly :func:`~alignment_mlflow.outcomes.stats.ratio_interval`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from alignment_mlflow.outcomes import stats

Verdict = Literal["met", "not_met", "inconclusive"]
#: The arms are declared mismatched below this p-value (the usual threshold for SRM checks: a
#: real mismatch gives p-values far smaller, a false alarm at 0.001 is rare).
SRM_ALPHA = 0.001
ALPHA = 0.05


@dataclass(frozen=True)
class TierCounts:
    """One tier of a campaign: who was treated or held out, who churned, what the plan said."""

    tier: str
    treated: int
    holdout: int
    churned_treated: int
    churned_holdout: int
    cost_per_customer: float
    claimed_reduction: float  # the tier's "40% retention", as 0.40
    expected_saves: float  # the plan's: treated x mean score x claimed reduction
    planned_holdout: float  # the fraction the plan drew for this tier


@dataclass(frozen=True)
class TierOutcome:
    tier: str
    treated: int
    holdout: int
    churn_treated: float | None
    churn_holdout: float | None
    difference: float | None  # churn_holdout - churn_treated: churn the treatment prevented
    difference_ci: tuple[float, float] | None
    reduction: float | None  # 1 - churn_treated / churn_holdout
    reduction_ci: tuple[float, float] | None
    realised_saves: float | None
    saves_ci: tuple[float, float] | None
    spend: float
    cost_per_save: float | None  # None when nothing was saved
    expected_saves: float
    claimed_reduction: float
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class ProgrammeOutcome:
    treated: int
    holdout: int
    reduction: float | None
    reduction_ci: tuple[float, float] | None
    realised_saves: float | None
    spend: float
    cost_per_save: float | None
    target: float | None  # the spec's business target (0.20 for "20%"), None without one
    verdict: Verdict
    reason: str
    saves_ci: tuple[float, float] | None = None
    expected_saves: float = 0.0


@dataclass(frozen=True)
class Outcome:
    tiers: tuple[TierOutcome, ...]
    programme: ProgrammeOutcome
    srm_p: float
    srm_failed: bool

    @property
    def verdict(self) -> Verdict:
        return self.programme.verdict


def judge(counts: Sequence[TierCounts], target: float | None) -> Outcome:
    """Every tier's and the programme's verdict; ``target`` is the programme's relative churn
    reduction (None: the spec names none, the programme is judged on nothing)."""
    _, srm_p = stats.srm(
        [n for c in counts for n in (c.treated, c.holdout)],
        [
            share
            for c in counts
            for share in (
                (c.treated + c.holdout) * (1 - c.planned_holdout),
                (c.treated + c.holdout) * c.planned_holdout,
            )
        ],
    )
    srm_failed = srm_p < SRM_ALPHA
    srm_reason = (
        f"the arms are not the sizes the plan drew (sample-ratio mismatch, p = {srm_p:.2g}); "
        "find where customers were lost before reading any effect"
    )
    tiers = tuple(_tier(c, srm_reason if srm_failed else None) for c in counts)
    return Outcome(tiers, _programme(counts, target, srm_reason if srm_failed else None),
                   srm_p, srm_failed)  # fmt: skip


def verdict_for(interval: tuple[float, float] | None, target: float) -> Verdict:
    if interval is None:
        return "inconclusive"
    low, high = interval
    if low >= target:
        return "met"
    if high < target:
        return "not_met"
    return "inconclusive"


def _tier(c: TierCounts, blocked: str | None) -> TierOutcome:
    spend = c.treated * c.cost_per_customer
    if c.treated == 0 or c.holdout == 0:
        arm = "treated" if c.treated == 0 else "held-out"
        return TierOutcome(
            c.tier, c.treated, c.holdout, _rate(c.churned_treated, c.treated),
            _rate(c.churned_holdout, c.holdout), None, None, None, None, None, None, spend, None,
            c.expected_saves, c.claimed_reduction, "inconclusive",
            f"no {arm} customers in this tier: nothing to compare",
        )  # fmt: skip
    p_t, p_h = c.churned_treated / c.treated, c.churned_holdout / c.holdout
    diff = p_h - p_t
    diff_ci = stats.diff_interval(c.churned_holdout, c.holdout, c.churned_treated, c.treated, ALPHA)
    ratio_low, ratio_high = stats.ratio_interval(
        c.churned_treated, c.treated, c.churned_holdout, c.holdout, ALPHA
    )
    reduction = 1 - p_t / p_h if p_h > 0 else None
    reduction_ci = (1 - ratio_high, 1 - ratio_low)
    saves = diff * c.treated
    saves_ci = (diff_ci[0] * c.treated, diff_ci[1] * c.treated)
    verdict = verdict_for(reduction_ci, c.claimed_reduction)
    reason = _reason(verdict, reduction_ci, c.claimed_reduction, "the tier's claimed effect")
    if blocked:
        verdict, reason = "inconclusive", blocked
    return TierOutcome(
        c.tier, c.treated, c.holdout, p_t, p_h, diff, diff_ci, reduction, reduction_ci, saves,
        saves_ci, spend, spend / saves if saves > 0 else None, c.expected_saves,
        c.claimed_reduction, verdict, reason,
    )  # fmt: skip


def _programme(
    counts: Sequence[TierCounts], target: float | None, blocked: str | None
) -> ProgrammeOutcome:
    treated = sum(c.treated for c in counts)
    holdout = sum(c.holdout for c in counts)
    spend = sum(c.treated * c.cost_per_customer for c in counts)
    usable = [c for c in counts if c.treated and c.holdout]
    reduction = interval = saves = saves_ci = None
    if usable:
        size = sum(c.treated + c.holdout for c in usable)
        weights = [(c.treated + c.holdout) / size for c in usable]
        p_t = sum(w * c.churned_treated / c.treated for w, c in zip(weights, usable, strict=True))
        p_h = sum(w * c.churned_holdout / c.holdout for w, c in zip(weights, usable, strict=True))
        interval = _log_ratio_interval(weights, usable)
        reduction = 1 - p_t / p_h if p_h > 0 else None
        saves = sum((c.churned_holdout / c.holdout - c.churned_treated / c.treated) * c.treated
                    for c in usable)  # fmt: skip
        saves_ci = _sum_interval(usable, saves)
    cost_per_save = spend / saves if saves and saves > 0 else None
    if target is None:
        verdict: Verdict = "inconclusive"
        reason = "the spec names no business target for the churn reduction"
    elif blocked:
        verdict, reason = "inconclusive", blocked
    else:
        verdict = verdict_for(interval, target)
        reason = _reason(verdict, interval, target, "the programme target")
    return ProgrammeOutcome(treated, holdout, reduction, interval, saves, spend, cost_per_save,
                            target, verdict, reason, saves_ci,
                            sum(c.expected_saves for c in counts))  # fmt: skip


def _sum_interval(tiers: list[TierCounts], saves: float) -> tuple[float, float]:
    """The programme's realised saves, a sum over independent tiers of ``treated x difference``:
    each side's distance to the estimate is the root of the sum of the tiers' squared distances
    (MOVER, Zou and Donner 2008), Newcombe's own construction carried to a sum."""
    below = above = 0.0
    for c in tiers:
        diff = c.churned_holdout / c.holdout - c.churned_treated / c.treated
        low, high = stats.diff_interval(
            c.churned_holdout, c.holdout, c.churned_treated, c.treated, ALPHA
        )
        below += ((diff - low) * c.treated) ** 2
        above += ((high - diff) * c.treated) ** 2
    return saves - math.sqrt(below), saves + math.sqrt(above)


def _rate(count: int, n: int) -> float | None:
    return count / n if n else None


def _log_ratio_interval(weights: list[float], tiers: list[TierCounts]) -> tuple[float, float]:
    """The interval of ``1 - p_treated / p_holdout`` for the weighted rates."""

    def adjusted(arm: str) -> tuple[float, float]:
        rate = var = 0.0
        for w, c in zip(weights, tiers, strict=True):
            churned, n = (
                (c.churned_treated, c.treated) if arm == "t" else (c.churned_holdout, c.holdout)
            )
            p = (churned + 0.5) / (n + 0.5)
            rate += w * p
            var += w * w * p * (1 - p) / (n + 0.5)
        return rate, var

    (pt, vt), (ph, vh) = adjusted("t"), adjusted("h")
    half = stats.z_critical(ALPHA) * math.sqrt(vt / pt**2 + vh / ph**2)
    log_ratio = math.log(pt / ph)
    return 1 - math.exp(log_ratio + half), 1 - math.exp(log_ratio - half)


def _reason(
    verdict: Verdict, interval: tuple[float, float] | None, target: float, what: str
) -> str:
    if interval is None:
        return "no churn among the held-out customers: no reduction can be measured"
    shown = f"reduction {interval[0]:.1%} to {interval[1]:.1%} (95%)"
    return {
        "met": f"{shown}: at least {what} of {target:.0%}",
        "not_met": f"{shown}: below {what} of {target:.0%}",
        "inconclusive": f"{shown} includes {what} of {target:.0%}: too few customers to tell",
    }[verdict]
