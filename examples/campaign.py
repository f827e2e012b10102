"""A seeded synthetic campaign with known effects, for trying ``alignment-mlflow outcomes``.

The assignments as ``plan --holdout --campaign`` writes them (the arms drawn by
``outcomes/arms.py``, held-out rows cost 0) and the outcomes, each customer churning with
probability score x (1 - the tier's true effect) when treated and score when held out. So each
tier's true relative reduction is its effect exactly, and the programme's is known from the
scores (:func:`true_programme`).

The default tiers are the template spec's (High > 0.8, Medium 0.5-0.8, Low < 0.5), each with the
effect it claims. The tests use this generator too (tests/_campaign.py).

    python examples/campaign.py --out demo-output/campaign
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from alignment_mlflow.outcomes import arms

PROJECT = "customer_churn_prediction"
PLAN_RUN = "0" * 32


@dataclass(frozen=True)
class TierSpec:
    name: str
    rank: int
    low: float
    high: float
    customers: int
    fraction: float  # held out
    effect: float  # true relative churn reduction
    cost: float


TIERS = (
    TierSpec("High", 1, 0.8, 1.0, 4_000, 0.20, 0.40, 50.0),
    TierSpec("Medium", 2, 0.5, 0.8, 12_000, 0.10, 0.20, 10.0),
    TierSpec("Low", 3, 0.0, 0.5, 30_000, 0.05, 0.05, 0.5),
)


@dataclass(frozen=True)
class Campaign:
    assignments: pa.Table
    outcomes: pa.Table
    scores: np.ndarray
    tier: np.ndarray  # index into the tiers
    held: np.ndarray
    churned: np.ndarray


def make(
    seed: int, *, tiers: tuple[TierSpec, ...] = TIERS, campaign: str | None = "2026-01",
    spec_sha256: str = "", project: str = PROJECT, string_ids: bool = False,
    id_offset: int = 0,
) -> Campaign:  # fmt: skip
    rng = np.random.default_rng(seed)
    n = sum(t.customers for t in tiers)
    tier = np.repeat(np.arange(len(tiers)), [t.customers for t in tiers])
    low = np.array([t.low for t in tiers])[tier]
    high = np.array([t.high for t in tiers])[tier]
    # Scores strictly inside each band (0.8 itself is Medium's: keep off the edges).
    scores = low + (high - low) * rng.uniform(0.01, 0.99, n)
    ids = np.arange(id_offset, id_offset + n, dtype=np.int64)
    fraction = np.array([t.fraction for t in tiers])[tier]
    key = arms.campaign_key(project, campaign or "")
    held = arms.held_out(arms.hash_ids(ids, key), fraction)
    effect = np.array([t.effect for t in tiers])[tier]
    p = np.where(held, scores, scores * (1 - effect))
    churned = rng.random(n) < p
    cost = np.where(held, 0.0, np.array([t.cost for t in tiers])[tier])
    id_array = pa.array([f"c-{i:07d}" for i in ids]) if string_ids else pa.array(ids)
    names = np.array([t.name for t in tiers], dtype=object)[tier]
    ranks = np.array([t.rank for t in tiers], dtype=np.int32)[tier]
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assignments = pa.table(
        {
            "project": pa.array([project] * n),
            "customer_id": id_array,
            "churn_score": pa.array(scores),
            "tier": pa.array(names.tolist()),
            "tier_rank": pa.array(ranks),
            "intervention": pa.array(np.where(held, "none (held out)", "contact").tolist()),
            "cost": pa.array(cost),
            "currency": pa.array(["USD"] * n),
            "spec_sha256": pa.array([spec_sha256] * n),
            "plan_run_id": pa.array([PLAN_RUN] * n),
            "scored_at": pa.array([when] * n, pa.timestamp("us", tz="UTC")),
            "campaign": pa.array([campaign] * n, pa.string()),
            "arm": pa.array(np.where(held, "holdout", "treated").tolist()),
            "holdout_fraction": pa.array(fraction),
        }
    )
    order = rng.permutation(n)  # outcomes come in no particular order
    outcomes = pa.table({"customer_id": id_array.take(pa.array(order)),
                         "churned": pa.array(churned[order].astype(np.int64))})  # fmt: skip
    return Campaign(assignments, outcomes, scores, tier, held, churned)


def true_programme(c: Campaign, tiers: tuple[TierSpec, ...] = TIERS) -> float:
    """The programme's true reduction, as the judge weighs tiers (by size): the tiers' mean
    scores are their churn without treatment."""
    sizes = np.bincount(c.tier, minlength=len(tiers)).astype(float)
    means = np.bincount(c.tier, weights=c.scores, minlength=len(tiers)) / sizes
    effects = np.array([t.effect for t in tiers])
    w = sizes / sizes.sum()
    return float(1 - (w * means * (1 - effects)).sum() / (w * means).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output/campaign")
    parser.add_argument("--seed", type=int, default=26)
    args = parser.parse_args()
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    from alignment_mlflow.spec import load_spec

    spec = load_spec(Path(__file__).parent / "churn_alignment.yaml")
    c = make(args.seed, spec_sha256=spec.sha256)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_deltalake(str(out / "assignments"), c.assignments, mode="overwrite")
    pq.write_table(c.outcomes, out / "outcomes.parquet")
    held = int(c.held.sum())
    where = out / "assignments"
    print(f"{where}: {len(c.held):,} customers of campaign 2026-01, {held:,} held out")
    print(f"{out / 'outcomes.parquet'}: {int(c.churned.sum()):,} churned")


if __name__ == "__main__":
    main()
