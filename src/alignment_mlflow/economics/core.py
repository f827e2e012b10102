"""The economics of a plan, from per-tier tallies: cost, expected saves, budget fit, allocation
and parity. Every engine (Arrow, Spark, the scalar reference) only fills a :class:`Tally`; what
the numbers mean is decided here, once.

Assumptions, stated where they are applied:

- scores are churn probabilities, so a tier's expected saves are the sum over its customers of
  ``score x expected retention rate`` (a churner reached is kept with that rate);
- the scored population is one budget period's campaign: the plan's total cost is compared with
  the budget as parsed from the spec, whatever its period (``$50k ... per month`` -> 50,000 per
  monthly scoring);
- "paid intervention" means any tier but the lowest-cost one(s): the cheapest tier is the
  baseline every customer gets, so fairness looks at who gets more than that.

Pure: no third-party imports, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alignment_mlflow.bands.table import BandTable
from alignment_mlflow.economics.validation import NULL_LABEL as NULL_LABEL
from alignment_mlflow.economics.validation import SAMPLE_IDS as SAMPLE_IDS
from alignment_mlflow.economics.validation import Issue as Issue
from alignment_mlflow.economics.validation import ScoresError as ScoresError
from alignment_mlflow.economics.validation import Validation as Validation
from alignment_mlflow.economics.validation import check_columns as check_columns
from alignment_mlflow.spec.model import Threshold

if TYPE_CHECKING:
    from alignment_mlflow.economics.holdout import Holdout
    from alignment_mlflow.spec.model import AlignmentSpec, Money, SuccessMetric

#: Distinct labels a fairness group column may have. Groups are segments (region, age band,
#: plan type); every label is logged to MLflow with its counts, so an id-like column would log
#: every customer id and make the parity figure meaningless.
MAX_GROUP_LABELS = 1_000


# --------------------------------------------------------------------------- tallies


@dataclass
class GroupTally:
    customers: int = 0
    paid: int = 0


@dataclass
class Tally:
    """What an engine counts: per band customers and score sum; per group column and label,
    customers and those in a paid tier. Engines merge partial tallies with :meth:`add_band`."""

    counts: list[int]
    score_sums: list[float]
    groups: dict[str, dict[str, GroupTally]] = field(default_factory=dict)
    # Per band, the customers held out of the campaign (plan --holdout) and their score sum:
    # they get no action, so they cost nothing and save nothing. Empty without a holdout.
    held_out: list[int] = field(default_factory=list)
    held_out_sums: list[float] = field(default_factory=list)

    @classmethod
    def empty(cls, table: BandTable, group_columns: Sequence[str] = ()) -> Tally:
        n = len(table)
        return cls([0] * n, [0.0] * n, {g: {} for g in group_columns})

    @property
    def rows(self) -> int:
        return sum(self.counts)

    def add_band(self, i: int, count: int, score_sum: float) -> None:
        self.counts[i] += int(count)
        self.score_sums[i] += float(score_sum)

    def add_held_out(self, i: int, count: int, score_sum: float) -> None:
        if not self.held_out:
            self.held_out, self.held_out_sums = [0] * len(self.counts), [0.0] * len(self.counts)
        self.held_out[i] += int(count)
        self.held_out_sums[i] += float(score_sum)

    def add_group(self, column: str, label: object, customers: int, paid: int) -> None:
        key = NULL_LABEL if label is None else str(label)
        labels = self.groups.setdefault(column, {})
        if key not in labels and len(labels) >= MAX_GROUP_LABELS:
            raise ScoresError(
                f"group column {column!r} has more than {MAX_GROUP_LABELS:,} distinct values; "
                "a fairness group is a segment with few values (region, age band), not an id: "
                "pass another --group-column; nothing was written"
            )
        g = labels.setdefault(key, GroupTally())
        g.customers += int(customers)
        g.paid += int(paid)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TierLine:
    tier: str
    rank: int
    intervention: str
    customers: int
    share: float
    mean_score: float | None
    cost_per_customer: float
    cost: float
    retention: float
    expected_saves: float
    paid: bool
    holdout: int = 0  # of ``customers``, held out: no action, no cost, no expected save
    holdout_fraction: float = 0.0  # the planned held-out share of the tier

    @property
    def treated(self) -> int:
        return self.customers - self.holdout


@dataclass(frozen=True)
class Budget:
    amount: float
    currency: str
    period: str | None
    text: str


@dataclass(frozen=True)
class Allocation:
    """The highest-risk-first plan that fits the budget: tiers in full, then part of the next
    one (its highest scores first), down to the implied score cut-off (funded: score >= cut-off;
    ties at the cut-off are broken arbitrarily, the customer count is what binds)."""

    tiers_in_full: tuple[str, ...]
    partial_tier: str | None
    partial_customers: int
    customers: int
    cost: float
    expected_saves: float
    score_cutoff: float | None


@dataclass(frozen=True)
class GroupParity:
    column: str
    groups: tuple[tuple[str, int, int, float], ...]  # (label, customers, paid, share)
    ratio: float | None  # smallest share / largest share; None when nobody is paid for


@dataclass(frozen=True)
class ParityTarget:
    metric: str
    slug: str
    target_text: str
    threshold: object  # spec.model.Threshold (kept loose so this record stays trivially pure)


@dataclass(frozen=True)
class Economics:
    rows: int
    tiers: tuple[TierLine, ...]
    total_cost: float
    currency: str
    expected_saves: float
    cost_per_expected_save: float | None
    budget: Budget | None
    within_budget: bool | None
    budget_utilisation: float | None
    allocation: Allocation | None  # only when over budget
    parity: tuple[GroupParity, ...]
    parity_target: ParityTarget | None
    parity_met: bool | None
    notes: tuple[str, ...] = ()
    holdout: Holdout | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the plan cannot deliver as drawn (a claim its holdout cannot detect)."""
        return () if self.holdout is None else self.holdout.warnings

    @property
    def demographic_parity_ratio(self) -> float | None:
        ratios = [p.ratio for p in self.parity if p.ratio is not None]
        return min(ratios) if ratios else None


def budget_of(spec: AlignmentSpec) -> Budget | None:
    money: Money | None = spec.business_context.budget
    if money is None:
        return None
    return Budget(float(money.amount), money.currency, money.period, money.text)


def parity_target(metrics: Sequence[SuccessMetric]) -> ParityTarget | None:
    """The spec's fairness target: a success metric whose target reads ``Ratio <op> x``, the one
    that names parity first when there are several."""
    ratio = [m for m in metrics if (m.target.label or "").strip().lower() == "ratio"]
    ratio.sort(key=lambda m: "parity" not in (m.metric + m.slug).lower())
    if not ratio:
        return None
    m = ratio[0]
    return ParityTarget(m.metric, m.slug, m.target.text, m.target)


def tier_lines(
    table: BandTable, tally: Tally, fractions: Sequence[float] = ()
) -> tuple[TierLine, ...]:
    """Cost and expected saves count the treated only: a held-out customer gets no action."""
    rows = tally.rows
    lines = []
    for i, b in enumerate(table.bands):
        n = tally.counts[i]
        held = tally.held_out[i] if tally.held_out else 0
        held_sum = tally.held_out_sums[i] if tally.held_out else 0.0
        lines.append(
            TierLine(
                tier=b.tier,
                rank=b.rank,
                intervention=b.intervention,
                customers=n,
                share=n / rows if rows else 0.0,
                mean_score=tally.score_sums[i] / n if n else None,
                cost_per_customer=b.cost,
                cost=(n - held) * b.cost,
                retention=b.retention,
                expected_saves=(tally.score_sums[i] - held_sum) * b.retention,
                paid=b.paid,
                holdout=held,
                holdout_fraction=float(fractions[i]) if fractions else 0.0,
            )
        )
    return tuple(lines)


TopK = Callable[[int, int], tuple[float, float]]
"""``top_k(band_index, k)`` -> (k-th highest score in the band, sum of its k highest scores)."""


def allocate(table: BandTable, lines: Sequence[TierLine], budget: float, top_k: TopK) -> Allocation:
    """Fund tiers highest risk first, in full while they fit, then the next one's top scores
    (treated customers only: ``top_k`` of an engine with a holdout skips the held out)."""
    remaining = budget
    full: list[str] = []
    cost = saves = 0.0
    customers = 0
    last_full: int | None = None
    partial: str | None = None
    k = 0
    cutoff: float | None = None
    for i, line in enumerate(lines):
        if line.customers == 0:
            continue
        if line.cost <= remaining + 1e-9:
            full.append(line.tier)
            remaining -= line.cost
            cost += line.cost
            saves += line.expected_saves
            customers += line.treated
            last_full = i
            continue
        partial = line.tier
        k = min(line.treated, math.floor(remaining / line.cost_per_customer + 1e-9))
        if k > 0:
            cutoff, top_sum = top_k(i, k)
            cost += k * line.cost_per_customer
            saves += top_sum * table.bands[i].retention
            customers += k
        break
    if cutoff is None and last_full is not None:
        cutoff = top_k(last_full, lines[last_full].treated)[0]  # that tier's lowest score
    return Allocation(tuple(full), partial, k, customers, cost, saves, cutoff)


def group_parity(table: BandTable, tally: Tally) -> tuple[GroupParity, ...]:
    anyone_paid = any(b.paid for b in table.bands)
    out = []
    for column, labels in tally.groups.items():
        rows = tuple(
            (label, g.customers, g.paid, g.paid / g.customers if g.customers else 0.0)
            for label, g in sorted(labels.items())
        )
        shares = [r[3] for r in rows if r[1] > 0]
        ratio = None
        if anyone_paid and shares and max(shares) > 0:
            ratio = min(shares) / max(shares)
        out.append(GroupParity(column, rows, ratio))
    return tuple(out)


def economics(
    spec: AlignmentSpec,
    table: BandTable,
    tally: Tally,
    top_k: TopK,
    holdout: Holdout | None = None,
) -> Economics:
    """Everything the plan reports, from the engine's tally (``top_k`` only runs over budget).
    With a ``holdout`` the tally's held-out counts are those of its fractions, and the group
    tallies' paid customers exclude the held out (parity is about who is paid for)."""
    lines = tier_lines(table, tally, holdout.fractions if holdout else ())
    total = sum(line.cost for line in lines)
    saves = sum(line.expected_saves for line in lines)
    budget = budget_of(spec)
    notes: list[str] = []
    within = utilisation = None
    allocation = None
    if budget is not None and budget.currency != table.currency:
        notes.append(
            f"budget is in {budget.currency} but interventions cost {table.currency}: "
            "budget fit not judged"
        )
    elif budget is not None:
        within = total <= budget.amount + 1e-9
        utilisation = total / budget.amount if budget.amount > 0 else None
        if not within:
            allocation = allocate(table, lines, budget.amount, top_k)
    parity = group_parity(table, tally)
    target = parity_target(spec.success_metrics)
    met = None
    ratios = [p.ratio for p in parity]
    if target is not None and ratios and all(r is not None for r in ratios):
        assert isinstance(target.threshold, Threshold)
        met = all(target.threshold.is_met(r) for r in ratios if r is not None)
    return Economics(
        rows=tally.rows,
        tiers=lines,
        total_cost=total,
        currency=table.currency,
        expected_saves=saves,
        cost_per_expected_save=total / saves if saves > 0 else None,
        budget=budget,
        within_budget=within,
        budget_utilisation=utilisation,
        allocation=allocation,
        parity=parity,
        parity_target=target,
        parity_met=met,
        notes=tuple(notes),
        holdout=holdout,
    )


def fingerprint(parts: Mapping[str, str]) -> str:
    """A stable id of one plan's inputs: a rerun with the same ones reuses its run."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(dict(parts), sort_keys=True).encode()).hexdigest()[:32]
