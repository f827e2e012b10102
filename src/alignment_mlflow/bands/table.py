"""The band table: which tier holds a churn score, compiled once from the spec for every engine.

:meth:`ScoreBand.contains` is the reference semantics. :func:`band_masks` is written with plain
comparison operators and ``&`` so that the very same code runs on a Python float (the reference
and the serving path), a NumPy array (the Arrow engine, on zero-copy views of Arrow buffers) and a
Spark ``Column`` (the Spark engine): there is one definition of "in the band", not three.
Pure: no third-party imports.

**The exact-value rule.** A score is compared as its exact value widened to float64, as Spark
does: a float32 score of 0.8 is 0.800000011920929, above 0.8, so it is High under ``High (>0.8)``.
NumPy 2 would compare a float32 array with the Python float 0.8 in float32 (NEP 50) and call it
Medium, so every compilation widens first (:meth:`BandTable.tier_of`, ``arrays.py``; Spark and
SQL widen FLOAT to DOUBLE themselves). A score that is NaN, null or outside [0, 1] is in no band
(-1 here, NULL in Spark and SQL, no tier when served); ``plan`` refuses such scores outright.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alignment_mlflow.errors import InvalidInputError

if TYPE_CHECKING:
    from alignment_mlflow.spec.model import AlignmentSpec


@dataclass(frozen=True)
class Band:
    """One tier's slice of the score range and what it costs and yields."""

    tier: str
    slug: str
    rank: int  # 1 = highest risk
    min_score: float
    max_score: float
    min_inclusive: bool
    max_inclusive: bool
    intervention: str
    cost: float  # per customer
    currency: str
    retention: float  # expected retention rate of a churner reached, in [0, 1]
    paid: bool  # False for the lowest-cost tier(s): the baseline every customer gets

    def contains(self, score: Any) -> Any:
        """Whether ``score`` is in the band; works elementwise on arrays and Spark columns."""
        lo = score >= self.min_score if self.min_inclusive else score > self.min_score
        hi = score <= self.max_score if self.max_inclusive else score < self.max_score
        return lo & hi


@dataclass(frozen=True)
class BandTable:
    """The tiers in rank order (highest risk first); index ``i`` is tier ``bands[i]``."""

    bands: tuple[Band, ...]
    currency: str

    def __len__(self) -> int:
        return len(self.bands)

    def tier_of(self, score: float | None) -> int:
        """The index of the band holding ``score`` (the scalar reference); -1 when none does
        (None, NaN, outside [0, 1]). ``float(score)`` is the exact-value rule: a NumPy float32
        compared as is would compare in float32."""
        if score is None:
            return -1
        exact = float(score)
        for i, band in enumerate(self.bands):
            if band.contains(exact):
                return i
        return -1

    @property
    def tiers(self) -> list[str]:
        return [b.tier for b in self.bands]


def band_table(spec: AlignmentSpec) -> BandTable:
    """Compile the spec's interventions; the spec loader already proved the bands cover [0, 1]
    exactly once, so every valid score falls in exactly one band."""
    ordered = sorted(spec.interventions, key=lambda i: i.rank)
    currencies = sorted({i.cost.currency for i in ordered})
    if len(currencies) != 1:
        raise InvalidInputError(
            f"interventions are priced in several currencies ({', '.join(currencies)}): a plan "
            "needs one currency to add costs up; price every intervention in the same currency"
        )
    cheapest = min(i.cost.amount for i in ordered)
    bands = tuple(
        Band(
            tier=i.tier,
            slug=i.slug,
            rank=i.rank,
            min_score=float(i.band.min_score),
            max_score=float(i.band.max_score),
            min_inclusive=i.band.min_inclusive,
            max_inclusive=i.band.max_inclusive,
            intervention=i.intervention,
            cost=float(i.cost.amount),
            currency=i.cost.currency,
            retention=float(i.expected_effectiveness.value),
            paid=i.cost.amount > cheapest,
        )
        for i in ordered
    )
    return BandTable(bands, currencies[0])


def band_masks(table: BandTable, score: Any) -> list[Any]:
    """One "in this band" predicate per band, for any value that supports ``>=`` and ``&``."""
    return [band.contains(score) for band in table.bands]


def paid_indices(table: BandTable) -> Sequence[int]:
    return [i for i, b in enumerate(table.bands) if b.paid]
