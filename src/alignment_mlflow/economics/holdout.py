"""The campaign's holdout, decided with the plan: which share of each tier gets no action.

A retention campaign's effect is only measurable against customers who were not contacted; a
naive before/after rate overstates it. So ``plan --holdout FRACTION|auto --campaign ID`` holds
out a share of every tier (stratified: the fraction is per tier, and so is the outcome's
comparison) and writes each customer's arm into the assignments, before the campaign starts.

Which customers: a keyed hash of (project, campaign, customer id) (``outcomes/arms.py``), never
an RNG. The draw is a function of the id alone, so it is the same on a rerun, in any batch order,
on the Arrow and the Spark engine, and anyone holding the plan can recompute it; a new campaign
id draws a new, independent holdout.

How many: ``FRACTION`` in every tier, or ``auto``: per tier the smallest share that detects the
tier's claimed effect (``outcomes/sizing.py``: two-sided alpha 0.05, power 0.8, the tier's mean
score as its churn without action, "40% retention" as treated churn = control x 0.6). A claim the
tier is too small to detect is a warning with the customers it would need.

Pure: no I/O, no third-party import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alignment_mlflow.bands.table import BandTable
from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.outcomes.sizing import TierSizing, size_tier

AUTO = "auto"
#: What a held-out customer's ``intervention`` reads in the assignments (``cost`` is 0).
HOLDOUT_INTERVENTION = "holdout (no action)"
TREATED, HELD_OUT = "treated", "holdout"
#: The longest campaign id: it is a tag, a param and a column value.
MAX_CAMPAIGN = 200


class HoldoutError(InvalidInputError):
    """Raised for a holdout the plan cannot draw (before anything is written)."""


@dataclass(frozen=True)
class Holdout:
    """The drawn holdout of one plan: the campaign, its hash key and each band's fraction."""

    campaign: str
    key: int  # outcomes.arms.campaign_key(project, campaign)
    requested: float | None  # the --holdout FRACTION; None for auto
    fractions: tuple[float, ...]  # per band, in band order
    sizing: tuple[TierSizing, ...] = ()  # auto only, per band

    @property
    def mode(self) -> str:
        return AUTO if self.requested is None else f"{self.requested:g}"

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f"WARNING {w}" for s in self.sizing if s.customers and (w := s.warning))


def parse(holdout: str | float | None, campaign: str | None) -> float | str | None:
    """``--holdout`` as given: a fraction in [0, 1), ``auto``, or None (no holdout). Requires a
    campaign: the arms are drawn for one campaign, and the outcome is judged per campaign."""
    bad = campaign is not None and (
        not campaign.strip() or len(campaign) > MAX_CAMPAIGN or not campaign.isprintable()
    )
    if bad:
        raise HoldoutError(
            f"--campaign {campaign!r}: pass a printable id of 1-{MAX_CAMPAIGN} characters "
            "(e.g. 2026-12); nothing was written"
        )
    if holdout is None:
        return None
    if campaign is None:
        raise HoldoutError(
            "--holdout needs --campaign ID: the held-out customers are drawn for one campaign "
            "(a keyed hash of project, campaign and customer id), and its outcome is judged by "
            "that id; nothing was written"
        )
    if isinstance(holdout, str) and holdout.strip().lower() == AUTO:
        return AUTO
    try:
        value = float(holdout)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise HoldoutError(
            f"--holdout {holdout!r}: pass a fraction in [0, 1) (0.1 holds out 10% of every tier) "
            "or 'auto' (sized per tier from its claimed effect); nothing was written"
        )
    return value


def fixed(campaign: str, key: int, fraction: float, table: BandTable) -> Holdout:
    return Holdout(campaign, key, fraction, tuple(fraction for _ in table.bands))


def auto(
    campaign: str, key: int, table: BandTable, counts: Sequence[int], score_sums: Sequence[float]
) -> Holdout:
    """Each tier's fraction sized from its claimed effect on its mean score (a tier without
    customers holds out nothing and warns of nothing)."""
    sizing = []
    for i, b in enumerate(table.bands):
        n = counts[i]
        churn = score_sums[i] / n if n else 0.0
        sizing.append(size_tier(b.tier, n, churn, b.retention))
    fractions = tuple(s.fraction if s.customers else 0.0 for s in sizing)
    return Holdout(campaign, key, None, fractions, tuple(sizing))
