"""What an engine found in the assignments joined with the outcomes, and the checks on it, before
any verdict. Pure: an engine (Arrow, Spark) reduces the rows to a :class:`Scan`; everything from
here on (the refusals of bad input, the counts per tier, the verdicts) is the same code for both.

The engines report what they saw, never decide: an outcome id the assignments do not hold is
counted by the engine and refused here, with every problem at once, so that a reader learns all
that is wrong with the inputs from one run (and the two engines cannot refuse differently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.outcomes.judge import TierCounts
from alignment_mlflow.spec.model import AlignmentSpec, SuccessMetric

ARMS = ("treated", "holdout")
#: The columns ``plan --holdout --campaign`` adds to the assignments (the fixed contract with
#: ``plan``); with the plan's own columns, what the outcome needs.
ASSIGNMENT_COLUMNS = (
    "project", "customer_id", "churn_score", "tier", "cost", "spec_sha256", "plan_run_id",
    "campaign", "arm", "holdout_fraction",
)  # fmt: skip
#: Distinct values an engine collects per column (a handful is enough to report).
SAMPLE = 5


class OutcomesError(InvalidInputError):
    """The assignments or the outcomes cannot be judged: refused before anything is written."""


@dataclass(frozen=True)
class ArmTally:
    """One tier's arm: its customers, how many churned, what they cost, their scores' sum."""

    tier: str
    arm: str
    customers: int
    churned: int
    cost: float
    score_sum: float


@dataclass(frozen=True)
class Scan:
    """Everything an engine reports about one campaign's assignments joined with its outcomes.

    Counts are of customers; ``*_examples`` hold at most :data:`SAMPLE` values of columns that
    are not customer data (arm names, outcome codes, tiers), never an id."""

    tallies: tuple[ArmTally, ...]
    fractions: tuple[tuple[str, tuple[float, ...]], ...]  # tier -> distinct holdout_fraction
    plan_run_ids: tuple[str, ...]
    spec_sha256s: tuple[str, ...]
    currencies: tuple[str, ...] = ()
    assignments: int = 0
    outcomes: int = 0
    not_in_outcomes: int = 0  # assigned customers with no outcome row
    not_in_assignments: int = 0  # outcome rows of customers the campaign did not assign
    duplicate_assignments: int = 0  # customers assigned more than once
    duplicate_outcomes: int = 0  # customers with more than one outcome row
    bad_values: int = 0  # outcomes other than 0/1/true/false (nulls included)
    bad_value_examples: tuple[str, ...] = ()
    bad_arms: int = 0
    bad_arm_examples: tuple[str, ...] = ()
    bad_fractions: int = 0  # null or outside [0, 1]
    extra: dict[str, str] = field(default_factory=dict)  # engine facts for the run's params

    def canonical(self) -> str:
        """The scan as a stable text: identical inputs give identical text (the fingerprint)."""
        import json
        from dataclasses import asdict

        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def require(names: Sequence[str], columns: Sequence[str], what: str, where: str) -> None:
    """Refuse a table without a column the outcome needs (the same words in every engine)."""
    missing = [c for c in columns if c not in names]
    if missing:
        hint = (
            ": plan with --holdout (and --campaign) before the campaign to draw the arms"
            if {"arm", "holdout_fraction", "campaign"} & set(missing)
            else ""
        )
        raise OutcomesError(f"{what} {where} has no column {', '.join(missing)}{hint}")


def examples(values: Sequence[object]) -> tuple[str, ...]:
    """A few distinct refused values, as Python writes them (nulls as ``null``)."""
    shown = sorted({"null" if v is None else repr(v) for v in values})
    return tuple(shown[:SAMPLE])


def choose_campaign(present: Sequence[str | None], requested: str | None, where: str) -> str | None:
    """The campaign to judge among those the project's assignments hold."""
    shown = ", ".join(sorted(repr(c) if c is not None else "none" for c in present)) or "none"
    if requested is not None:
        if requested in present:
            return requested
        if not present:
            raise OutcomesError(f"{where} holds no assignments for this project")
        hint = (
            " (the assignments were planned without --campaign: omit --campaign)"
            if present == [None] or list(present) == [None]
            else ""
        )
        raise OutcomesError(
            f"campaign {requested!r} has no assignments in {where}; campaigns there: {shown}{hint}"
        )
    if not present:
        raise OutcomesError(f"{where} holds no assignments for this project")
    if len(present) > 1:
        raise OutcomesError(
            f"{where} holds {len(present)} campaigns ({shown}): pass --campaign ID to say which "
            "one to judge"
        )
    return present[0]


def check(scan: Scan, spec: AlignmentSpec, *, assignments: str, outcomes: str) -> None:
    """Every reason the scan cannot be judged, at once (exit 2, nothing written)."""
    problems: list[str] = []
    if scan.not_in_assignments:
        problems.append(
            f"{scan.not_in_assignments:,} of {scan.outcomes:,} outcome rows in {outcomes} are "
            f"of customers the campaign did not assign in {assignments}: pass the outcomes of "
            "this campaign only (or --campaign the campaign they belong to)"
        )
    if scan.not_in_outcomes:
        problems.append(
            f"{scan.not_in_outcomes:,} of {scan.assignments:,} assigned customers have no "
            f"outcome in {outcomes}: every assigned customer needs one (churned 0 or 1); "
            "dropping them would bias the comparison of the arms"
        )
    if scan.duplicate_assignments:
        problems.append(
            f"{scan.duplicate_assignments:,} customers are assigned more than once in "
            f"{assignments}: one row per customer and campaign is what plan writes"
        )
    if scan.duplicate_outcomes:
        problems.append(
            f"{scan.duplicate_outcomes:,} customers have more than one outcome row in "
            f"{outcomes}: keep one per customer"
        )
    if scan.bad_values:
        seen = ", ".join(scan.bad_value_examples)
        problems.append(
            f"{scan.bad_values:,} outcome values in {outcomes} are not 0/1/true/false "
            f"(seen: {seen}); nulls included"
        )
    if scan.bad_arms:
        problems.append(
            f"{scan.bad_arms:,} assignments have an arm other than treated/holdout "
            f"(seen: {', '.join(scan.bad_arm_examples)})"
        )
    if scan.bad_fractions:
        problems.append(f"{scan.bad_fractions:,} assignments have no holdout_fraction in [0, 1]")
    mixed = [t for t, fs in scan.fractions if len(fs) > 1]
    if mixed:
        problems.append(
            f"tiers {', '.join(mixed)} carry more than one holdout_fraction in {assignments}: "
            "one plan draws one fraction per tier"
        )
    if len(scan.plan_run_ids) > 1:
        problems.append(
            f"the campaign's assignments come from {len(scan.plan_run_ids)} plan runs "
            f"({', '.join(scan.plan_run_ids)}): one campaign is one plan"
        )
    others = [s for s in scan.spec_sha256s if s != spec.sha256]
    if others:
        problems.append(
            f"the assignments were planned with spec {others[0][:12]}, not {spec.sha256[:12]} "
            "(the spec given): judge them against the spec they were planned with (the aligned "
            "findings file records it)"
        )
    known = {i.tier for i in spec.interventions}
    unknown = sorted({t.tier for t in scan.tallies} - known)
    if unknown:
        problems.append(f"tiers {', '.join(unknown)} of the assignments are not in the spec")
    if not problems and not scan.tallies:
        problems.append(f"{assignments} holds no assignments to judge")
    if problems:
        raise OutcomesError("; ".join(problems))


def tier_counts(scan: Scan, spec: AlignmentSpec) -> list[TierCounts]:
    """One :class:`TierCounts` per tier of the assignments, in the spec's order (rank)."""
    fractions = dict(scan.fractions)
    by_tier: dict[str, dict[str, ArmTally]] = {}
    for t in scan.tallies:
        by_tier.setdefault(t.tier, {})[t.arm] = t
    out = []
    for i in spec.interventions:
        arms = by_tier.get(i.tier)
        if not arms:
            continue
        empty = ArmTally(i.tier, "", 0, 0, 0.0, 0.0)
        treated, holdout = arms.get("treated", empty), arms.get("holdout", empty)
        claimed = i.expected_effectiveness.value
        out.append(
            TierCounts(
                tier=i.tier,
                treated=treated.customers,
                holdout=holdout.customers,
                churned_treated=treated.churned,
                churned_holdout=holdout.churned,
                cost_per_customer=treated.cost / treated.customers if treated.customers else 0.0,
                claimed_reduction=claimed,
                expected_saves=treated.score_sum * claimed,
                planned_holdout=(fractions.get(i.tier) or (0.0,))[0],
            )
        )
    return out


def business_metric(spec: AlignmentSpec) -> SuccessMetric | None:
    """The success metric the programme is judged on: the one ``measured_on: business``; among
    several, the one about a churn (rate) reduction."""
    business = [m for m in spec.success_metrics if m.measured_on == "business"]
    if len(business) > 1:
        churn = [m for m in business if "churn" in m.slug and "reduction" in m.slug]
        business = churn or [m for m in business if "reduction" in m.slug] or business
    return business[0] if business else None


def business_target(metric: SuccessMetric | None) -> float | None:
    """The relative reduction the programme must reach: "20%" is 0.20."""
    if metric is None:
        return None
    return metric.target.value
