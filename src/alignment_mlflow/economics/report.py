"""What a plan writes, as plain values: MLflow params, metrics, tags and tables; the assignments
table's columns; the CLI's JSON and summary. Pure: no third-party imports, no I/O.

Group values appear only as labels with their counts (the parity table); no customer-level value
leaves in a log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alignment_mlflow.economics.core import Economics
from alignment_mlflow.tagkeys import hidden

# In view on a plan run (``tagkeys``): within budget, parity met, the campaign, the link back
# to the alignment (``alignment.run``); the rest is bookkeeping out of the Tags panel.
FINGERPRINT_TAG = hidden("plan_fingerprint")
KIND_TAG = hidden("kind")
PROJECT_TAG = hidden("project")
ARTIFACT_DIR = "plan"


@dataclass(frozen=True)
class AssignmentColumn:
    name: str
    type: str  # "string", "int", "double", "timestamp", or "id" (the scores' id type)
    nullable: bool
    comment: str


ASSIGNMENT_COLUMNS: tuple[AssignmentColumn, ...] = (
    AssignmentColumn("project", "string", False, "Project slug; the table is partitioned by it"),
    AssignmentColumn("customer_id", "id", False, "Customer id, as typed in the scores"),
    AssignmentColumn("churn_score", "double", False, "Churn probability the tier was chosen by"),
    AssignmentColumn("tier", "string", False, "Tier whose band holds the score"),
    AssignmentColumn("tier_rank", "int", False, "1 = highest churn risk"),
    AssignmentColumn("intervention", "string", False, "Action for this customer"),
    AssignmentColumn("cost", "double", False, "Cost of the action for this customer"),
    AssignmentColumn("currency", "string", False, "ISO 4217 currency of cost"),
    AssignmentColumn("spec_sha256", "string", False, "sha256 of the alignment spec"),
    AssignmentColumn("plan_run_id", "string", False, "MLflow run of the plan"),
    AssignmentColumn("scored_at", "timestamp", False, "When the plan was made (UTC)"),
    # The campaign's randomised holdout (plan --holdout --campaign), the contract with
    # ``outcomes``. Nullable so that a table written before them gains them by a schema change
    # (its other projects' rows read null: planned before holdouts existed).
    AssignmentColumn(
        "campaign", "string", True, "Campaign the arms were drawn for (null: no --campaign)"
    ),
    AssignmentColumn(
        "arm", "string", True, "treated, or holdout (no action, the campaign's control group)"
    ),
    AssignmentColumn(
        "holdout_fraction", "double", True, "The tier's planned held-out fraction (0: none)"
    ),
)
ASSIGNMENTS_COMMENT = (
    "Churn interventions per customer, one row per (project, customer_id), written by "
    "alignment-mlflow plan; each plan replaces its project's rows."
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


def metric_key(text: str) -> str:
    return _UNSAFE.sub("_", text)[:200]


def params(
    *,
    spec_sha256: str,
    scores_location: str,
    scores_digest: str,
    rows: int,
    id_column: str,
    score_column: str,
    group_columns: Sequence[str],
    package_version: str,
    scores_version: int | None = None,
) -> dict[str, str]:
    pinned = {} if scores_version is None else {"scores_version": str(scores_version)}
    return pinned | {
        "spec_sha256": spec_sha256,
        "scores_location": scores_location[:500],
        "scores_digest": scores_digest,
        "rows": str(rows),
        "id_column": id_column,
        "score_column": score_column,
        "group_columns": ",".join(group_columns),
        "alignment_mlflow_version": package_version,
    }


def metrics(e: Economics) -> dict[str, float]:
    out: dict[str, float] = {"rows": float(e.rows)}
    for t in e.tiers:
        key = f"tier.{metric_key(t.tier)}"
        out[f"{key}.customers"] = float(t.customers)
        out[f"{key}.share"] = t.share
        if t.mean_score is not None:
            out[f"{key}.mean_score"] = t.mean_score
        out[f"{key}.cost"] = t.cost
        out[f"{key}.expected_saves"] = t.expected_saves
        if e.holdout is not None:
            out[f"{key}.holdout"] = float(t.holdout)
            out[f"{key}.holdout_fraction"] = t.holdout_fraction
    if e.holdout is not None:
        for s in e.holdout.sizing:
            if s.needed_per_arm is not None:
                out[f"tier.{metric_key(s.tier)}.needed_per_arm"] = float(s.needed_per_arm)
    out["total_cost"] = e.total_cost
    out["expected_saves"] = e.expected_saves
    if e.cost_per_expected_save is not None:
        out["cost_per_expected_save"] = e.cost_per_expected_save
    if e.budget is not None:
        out["budget"] = e.budget.amount
    if e.budget_utilisation is not None:
        out["budget_utilisation"] = e.budget_utilisation
    if e.allocation is not None:
        a = e.allocation
        out["allocation.customers"] = float(a.customers)
        out["allocation.cost"] = a.cost
        out["allocation.expected_saves"] = a.expected_saves
        if a.score_cutoff is not None:
            out["allocation.score_cutoff"] = a.score_cutoff
    for p in e.parity:
        if p.ratio is not None:
            out[f"parity.{metric_key(p.column)}.ratio"] = p.ratio
    if e.demographic_parity_ratio is not None:
        out["demographic_parity_ratio"] = e.demographic_parity_ratio
    # Figures a reader reads: six significant digits, not 0.9185934143403252 (the tables and
    # --json keep full precision).
    return {k: float(f"{v:.6g}") for k, v in out.items()}


def _flag(value: bool | None) -> str:
    return "n/a" if value is None else str(value).lower()


def tags(e: Economics, *, fingerprint: str, project: str, spec_sha256: str) -> dict[str, str]:
    out = {
        KIND_TAG: "plan",
        FINGERPRINT_TAG: fingerprint,
        PROJECT_TAG: project,
        hidden("spec_sha256"): spec_sha256,
        "plan.within_budget": _flag(e.within_budget),
        "plan.parity_met": _flag(e.parity_met),
    }
    if e.parity_target is not None:
        out[hidden("parity_target")] = f"{e.parity_target.metric}: {e.parity_target.target_text}"
    if e.holdout is not None:
        out["plan.campaign"] = e.holdout.campaign
        out[hidden("holdout")] = e.holdout.mode
        out[hidden("holdout_detectable")] = _flag(not e.warnings)
        if e.warnings:
            out["plan.warnings"] = "\n".join(e.warnings)[:5000]
    return out


def tables(e: Economics) -> dict[str, dict[str, Any]]:
    """MLflow table artifacts (``{"columns", "data"}``): per tier, per group, allocation."""
    tier_cols = [
        "tier", "rank", "intervention", "customers", "share", "mean_score", "cost_per_customer",
        "cost", "currency", "expected_retention_rate", "expected_saves", "paid", "holdout",
        "holdout_fraction",
    ]  # fmt: skip
    out: dict[str, dict[str, Any]] = {
        "tiers": {
            "columns": tier_cols,
            "data": [
                [
                    t.tier,
                    t.rank,
                    t.intervention,
                    t.customers,
                    t.share,
                    t.mean_score,
                    t.cost_per_customer,
                    t.cost,
                    e.currency,
                    t.retention,
                    t.expected_saves,
                    t.paid,
                    t.holdout,
                    t.holdout_fraction,
                ]
                for t in e.tiers
            ],
        }
    }
    if e.parity:
        out["parity"] = {
            "columns": ["column", "group", "customers", "paid_customers", "paid_share", "ratio"],
            "data": [
                [p.column, label, n, paid, share, p.ratio]
                for p in e.parity
                for label, n, paid, share in p.groups
            ],
        }
    if e.holdout is not None and e.holdout.sizing:
        out["holdout_sizing"] = {
            "columns": ["tier", "customers", "control_churn", "claimed_reduction",
                        "needed_per_arm", "holdout", "fraction", "detectable"],
            "data": [[s.tier, s.customers, s.control_churn, s.claimed_reduction,
                      s.needed_per_arm, s.holdout, s.fraction, s.detectable]
                     for s in e.holdout.sizing],
        }  # fmt: skip
    if e.allocation is not None:
        a = e.allocation
        out["allocation"] = {
            "columns": ["tiers_in_full", "partial_tier", "partial_customers", "customers", "cost",
                        "expected_saves", "score_cutoff"],
            "data": [[", ".join(a.tiers_in_full), a.partial_tier, a.partial_customers,
                      a.customers, a.cost, a.expected_saves, a.score_cutoff]],
        }  # fmt: skip
    return out


def to_json(
    e: Economics,
    *,
    run_id: str | None,
    assignments_table: str | None,
    assignments_version: int | None,
    timings: Mapping[str, float],
) -> dict[str, Any]:
    """The CLI's ``--json`` object: exactly the keys jobs rely on (the holdout's are added:
    ``campaign``, ``holdout``, ``warnings``, and per tier ``treated``, ``holdout``,
    ``holdout_fraction``; ``cost`` and ``expected_saves`` count the treated)."""
    return {
        "rows": e.rows,
        "tiers": [
            {
                "tier": t.tier,
                "customers": t.customers,
                "cost": round(t.cost, 2),
                "expected_saves": round(t.expected_saves, 4),
                "treated": t.treated,
                "holdout": t.holdout,
                "holdout_fraction": t.holdout_fraction,
            }
            for t in e.tiers
        ],
        "total_cost": round(e.total_cost, 2),
        "currency": e.currency,
        "budget": None if e.budget is None else e.budget.amount,
        "within_budget": e.within_budget,
        "parity": {p.column: p.ratio for p in e.parity},
        "run_id": run_id,
        "assignments_table": assignments_table,
        "assignments_version": assignments_version,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "campaign": None if e.holdout is None else e.holdout.campaign,
        "holdout": _holdout_json(e),
        "warnings": list(e.warnings),
    }


def _holdout_json(e: Economics) -> dict[str, Any] | None:
    h = e.holdout
    if h is None:
        return None
    sized = {s.tier: s for s in h.sizing}
    return {
        "mode": h.mode,
        "tiers": [
            {
                "tier": t.tier,
                "customers": t.customers,
                "fraction": t.holdout_fraction,
                "holdout": t.holdout,
                "needed_per_arm": sized[t.tier].needed_per_arm if t.tier in sized else None,
                "detectable": sized[t.tier].detectable if t.tier in sized else None,
            }
            for t in e.tiers
        ],
    }


def summary_lines(e: Economics) -> list[str]:
    cur = e.currency
    lines = [f"{e.rows:,} customers scored"]
    held = e.holdout is not None
    lines.append(
        f"  {'tier':<10} {'customers':>12} {'share':>7} {'cost':>14} {'exp. saves':>12}"
        + (f" {'held out':>10} {'fraction':>9}" if held else "")
    )
    for t in e.tiers:
        lines.append(
            f"  {t.tier:<10} {t.customers:>12,} {t.share:>7.1%} {t.cost:>14,.2f} "
            f"{t.expected_saves:>12,.1f}"
            + (f" {t.holdout:>10,} {t.holdout_fraction:>9.2%}" if held else "")
        )
    if e.holdout is not None:
        lines.append(
            f"holdout for campaign {e.holdout.campaign} ({e.holdout.mode}): "
            f"{sum(t.holdout for t in e.tiers):,} customers get no action; cost and expected "
            "saves count the treated"
        )
        drew = {t.tier: t.holdout for t in e.tiers}
        lines += [
            f"  {s.tier}: needs ~{s.needed_per_arm:,} per arm; planned {s.holdout:,} of "
            f"{s.customers:,} held out, drew {drew.get(s.tier, 0):,}: "
            + ("detectable" if s.detectable else "NOT detectable")
            for s in e.holdout.sizing
            if s.customers and s.needed_per_arm is not None
        ]
    per_save = "-" if e.cost_per_expected_save is None else f"{e.cost_per_expected_save:,.2f}"
    lines.append(
        f"total cost {e.total_cost:,.2f} {cur}, expected saves {e.expected_saves:,.1f}, "
        f"cost per expected save {per_save} {cur}"
    )
    if e.budget is None:
        lines.append("budget: none parsed from the spec (business_context.budget_constraints)")
    else:
        fit = {True: "fits", False: "OVER BUDGET", None: "not judged"}[e.within_budget]
        util = "" if e.budget_utilisation is None else f" ({e.budget_utilisation:.1%} used)"
        lines.append(
            f"budget {e.budget.amount:,.2f} {e.budget.currency} ({e.budget.text}): {fit}{util}"
        )
    if e.allocation is not None:
        a = e.allocation
        part = f", {a.partial_customers:,} of {a.partial_tier}" if a.partial_tier else ""
        cut = "-" if a.score_cutoff is None else f"{a.score_cutoff:.6g}"
        lines.append(
            f"within budget: {', '.join(a.tiers_in_full) or 'no tier'} in full{part}; "
            f"{a.customers:,} customers, cost {a.cost:,.2f}, expected saves "
            f"{a.expected_saves:,.1f}, score cut-off {cut}"
        )
    for p in e.parity:
        ratio = (
            "undefined (nobody gets a paid intervention)" if p.ratio is None else f"{p.ratio:.3f}"
        )
        lines.append(f"parity {p.column}: {ratio} over {len(p.groups)} groups")
    if e.parity_target is not None and e.parity:
        lines.append(
            f"parity target {e.parity_target.metric} {e.parity_target.target_text}: "
            + {True: "met", False: "NOT MET", None: "not judged"}[e.parity_met]
        )
    lines += [f"note: {n}" for n in e.notes]
    lines += list(e.warnings)
    return lines
