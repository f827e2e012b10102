"""How many customers each tier holds out, sized from the effect the tier claims (``auto``).

The tier's mean score is read as its churn without treatment, and "40% retention" as treated
churn = control x (1 - 0.40). The holdout is the smallest share of the tier that detects that
difference with a two-sided test at alpha 0.05 and power 0.8 (:func:`~.stats.power` with the
arms' real, unequal sizes). Holding out more than half the tier gains no power, so a tier whose
claim needs more customers than it has cannot be checked at this volume: it is said, with the
number needed, and the tier keeps a :data:`MONITOR_FRACTION` holdout so that its churn is still
measured (an effect much larger than claimed would show).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alignment_mlflow.outcomes import stats

ALPHA = 0.05
POWER = 0.8
#: The holdout of a tier whose claim cannot be detected at its volume.
MONITOR_FRACTION = 0.10


@dataclass(frozen=True)
class TierSizing:
    tier: str
    customers: int
    control_churn: float
    claimed_reduction: float
    needed_per_arm: int | None  # balanced arms; None when the claim makes no difference
    holdout: int
    fraction: float
    detectable: bool

    @property
    def warning(self) -> str | None:
        if self.detectable:
            return None
        if self.needed_per_arm is None:
            return f"tier {self.tier}: a claimed effect of 0 cannot be detected"
        return (
            f"tier {self.tier}: its claimed {self.claimed_reduction:.0%} effect on "
            f"{self.control_churn:.1%} churn needs ~{self.needed_per_arm:,} customers per arm "
            f"to detect (alpha {ALPHA}, power {POWER}); the tier has {self.customers:,}, so the "
            f"outcome can only say 'inconclusive' for it. Holding out "
            f"{MONITOR_FRACTION:.0%} to measure its churn anyway"
        )


def size_tier(tier: str, customers: int, control_churn: float, claimed: float) -> TierSizing:
    """The smallest holdout of ``customers`` that detects ``claimed`` on ``control_churn``."""
    treated_churn = control_churn * (1 - claimed)
    h = abs(stats.effect_size(control_churn, treated_churn))
    needed = None
    if h > 0 and 0 < control_churn <= 1:
        needed = math.ceil(stats.n_per_arm(control_churn, treated_churn, alpha=ALPHA, target=POWER))
    half = customers // 2
    if needed is None or half < 1 or _power(h, half, customers) < POWER:
        holdout = round(customers * MONITOR_FRACTION)
        return TierSizing(tier, customers, control_churn, claimed, needed, holdout,
                          holdout / customers if customers else 0.0, False)  # fmt: skip
    low, high = 0, half  # power(high) >= POWER; find the smallest such holdout
    while high - low > 1:
        mid = (low + high) // 2
        if _power(h, mid, customers) >= POWER:
            high = mid
        else:
            low = mid
    return TierSizing(tier, customers, control_churn, claimed, needed, high,
                      high / customers, True)  # fmt: skip


def _power(h: float, holdout: int, customers: int) -> float:
    if holdout <= 0:
        return 0.0
    return stats.power(h, holdout, ALPHA, ratio=(customers - holdout) / holdout)
