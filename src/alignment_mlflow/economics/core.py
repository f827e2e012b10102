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
from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.spec.model import Threshold

if TYPE_CHECKING:
    from alignment_mlflow.spec.model import AlignmentSpec, Money, SuccessMetric

SAMPLE_IDS = 5
NULL_LABEL = "(null)"
#: Distinct labels a fairness group column may have. Groups are segments (region, age band,
#: plan type); every label is logged to MLflow with its counts, so an id-like column would log
#: every customer id and make the parity figure meaningless.
MAX_GROUP_LABELS = 1_000


class ScoresError(InvalidInputError):
    """Raised when the scores cannot be planned on: a missing column, duplicate ids, null, NaN or
    out-of-range scores, or no rows at all. Raised before anything is written."""


# --------------------------------------------------------------------------- validation


@dataclass
class Issue:
    column: str
    problem: str
    count: int = 0
    sample: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        ids = f" (first ids: {', '.join(self.sample)})" if self.sample else ""
        return f"column {self.column!r}: {self.count:,} {self.problem}{ids}"


@dataclass
class Validation:
    """Problems found in the scores, merged across batches and partitions; the first few ids of
    each are kept so a user can look the rows up."""

    source: str
    issues: dict[tuple[str, str], Issue] = field(default_factory=dict)

    def add(self, column: str, problem: str, count: int, ids: Sequence[object] = ()) -> None:
        if count <= 0:
            return
        issue = self.issues.setdefault((column, problem), Issue(column, problem))
        issue.count += int(count)
        room = SAMPLE_IDS - len(issue.sample)
        issue.sample.extend(str(i) for i in list(ids)[:room])

    def missing(self, column: str, role: str, available: Sequence[str]) -> None:
        shown = ", ".join(available[:20]) + (", ..." if len(available) > 20 else "")
        self.issues[(column, "missing")] = Issue(
            column, f"missing: no {role} column {column!r} (columns: {shown})"
        )

    def empty(self) -> None:
        self.issues[("", "empty")] = Issue("", "empty: the scores have no rows; score first")

    def raise_if_any(self) -> None:
        if not self.issues:
            return
        lines = [f"scores {self.source} cannot be planned on; nothing was written:"]
        for issue in self.issues.values():
            if issue.problem.startswith("missing"):
                lines.append(f"  - {issue.problem}; pass the right --id-column/--score-column")
            elif issue.problem.startswith(("empty", "--group-column")):
                lines.append(f"  - {issue.problem}")
            else:
                lines.append(f"  - {issue}")
        raise ScoresError(lines=lines)


def check_columns(
    validation: Validation,
    available: Sequence[str],
    *,
    id_column: str,
    score_column: str,
    group_columns: Sequence[str],
) -> None:
    roles = [(id_column, "id"), (score_column, "score"), *((g, "group") for g in group_columns)]
    for column, role in roles:
        if column not in available:
            validation.missing(column, role, list(available))
    for g in group_columns:
        if g in (id_column, score_column):
            role = "id" if g == id_column else "score"
            validation.issues[(g, "group")] = Issue(
                g,
                f"--group-column {g!r} is the {role} column: a fairness group is a segment "
                "with few values (region, age band), never one label per customer",
            )
    validation.raise_if_any()


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


def tier_lines(table: BandTable, tally: Tally) -> tuple[TierLine, ...]:
    rows = tally.rows
    lines = []
    for i, b in enumerate(table.bands):
        n = tally.counts[i]
        lines.append(
            TierLine(
                tier=b.tier,
                rank=b.rank,
                intervention=b.intervention,
                customers=n,
                share=n / rows if rows else 0.0,
                mean_score=tally.score_sums[i] / n if n else None,
                cost_per_customer=b.cost,
                cost=n * b.cost,
                retention=b.retention,
                expected_saves=tally.score_sums[i] * b.retention,
                paid=b.paid,
            )
        )
    return tuple(lines)


TopK = Callable[[int, int], tuple[float, float]]
"""``top_k(band_index, k)`` -> (k-th highest score in the band, sum of its k highest scores)."""


def allocate(table: BandTable, lines: Sequence[TierLine], budget: float, top_k: TopK) -> Allocation:
    """Fund tiers highest risk first, in full while they fit, then the next one's top scores."""
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
            customers += line.customers
            last_full = i
            continue
        partial = line.tier
        k = min(line.customers, math.floor(remaining / line.cost_per_customer + 1e-9))
        if k > 0:
            cutoff, top_sum = top_k(i, k)
            cost += k * line.cost_per_customer
            saves += top_sum * table.bands[i].retention
            customers += k
        break
    if cutoff is None and last_full is not None:
        cutoff = top_k(last_full, lines[last_full].customers)[0]  # that tier's lowest score
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


def economics(spec: AlignmentSpec, table: BandTable, tally: Tally, top_k: TopK) -> Economics:
    """Everything the plan reports, from the engine's tally (``top_k`` only runs over budget)."""
    lines = tier_lines(table, tally)
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
    )


def fingerprint(parts: Mapping[str, str]) -> str:
    """A stable id of one plan's inputs: a rerun with the same ones reuses its run."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(dict(parts), sort_keys=True).encode()).hexdigest()[:32]
