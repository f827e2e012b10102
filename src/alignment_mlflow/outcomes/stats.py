"""Two-proportion statistics for a campaign with a holdout: intervals, tests, power, SRM.

Pure Python (``math`` and ``statistics``): the runtime needs no SciPy or statsmodels. Every
function reproduces a named statsmodels method exactly (the tests compare to 1e-9), so a reader
can check a figure with the library they know:

- :func:`wilson` is ``proportion_confint(method="wilson")``;
- :func:`diff_interval` is ``confint_proportions_2indep(compare="diff", method="newcomb")``,
  Newcombe's hybrid score interval (method 10 of Newcombe 1998), which keeps its coverage with
  few events, unlike the Wald interval;
- :func:`ratio_interval` is ``confint_proportions_2indep(compare="ratio",
  method="log-adjusted")``, the log interval with half a count added, defined at zero events;
- :func:`diff_test` is ``test_proportions_2indep(compare="diff")`` (Agresti-Caffo, two-sided);
- :func:`power` and :func:`n_per_arm` are ``NormalIndPower`` on Cohen's h
  (``proportion_effectsize``), both tails counted as statsmodels counts them;
- :func:`chi2_sf` is ``scipy.stats.chi2.sf``, for the sample-ratio-mismatch test :func:`srm`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

_N = NormalDist()


def z_critical(alpha: float) -> float:
    """The two-sided critical value: 1.959963984540054 for alpha 0.05."""
    return _N.inv_cdf(1 - alpha / 2)


def wilson(count: float, nobs: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson's score interval for one proportion, clipped to [0, 1] against rounding."""
    q = count / nobs
    crit = z_critical(alpha)
    crit2 = crit**2
    denom = 1 + crit2 / nobs
    center = (q + crit2 / (2 * nobs)) / denom
    dist = crit * math.sqrt(q * (1.0 - q) / nobs + crit2 / (4.0 * nobs**2)) / denom
    return min(max(center - dist, 0.0), 1.0), min(max(center + dist, 0.0), 1.0)


def diff_interval(
    count1: float, nobs1: float, count2: float, nobs2: float, alpha: float = 0.05
) -> tuple[float, float]:
    """Newcombe's interval for ``p1 - p2``."""
    p1, p2 = count1 / nobs1, count2 / nobs2
    low1, upp1 = wilson(count1, nobs1, alpha)
    low2, upp2 = wilson(count2, nobs2, alpha)
    diff = p1 - p2
    return (
        diff - math.sqrt((p1 - low1) ** 2 + (upp2 - p2) ** 2),
        diff + math.sqrt((p2 - low2) ** 2 + (upp1 - p1) ** 2),
    )


def ratio_interval(
    count1: float, nobs1: float, count2: float, nobs2: float, alpha: float = 0.05
) -> tuple[float, float]:
    """The log interval for ``p1 / p2`` with half a count added to each arm."""
    c1, n1, c2, n2 = count1 + 0.5, nobs1 + 0.5, count2 + 0.5, nobs2 + 0.5
    log_ratio = math.log((c1 / n1) / (c2 / n2))
    half = z_critical(alpha) * math.sqrt(1 / c1 - 1 / n1 + 1 / c2 - 1 / n2)
    return math.exp(log_ratio - half), math.exp(log_ratio + half)


def diff_test(count1: float, nobs1: float, count2: float, nobs2: float) -> tuple[float, float]:
    """Agresti-Caffo's test of ``p1 == p2``: (z statistic, two-sided p-value)."""
    c1, n1, c2, n2 = count1 + 1, nobs1 + 2, count2 + 1, nobs2 + 2
    p1, p2 = c1 / n1, c2 / n2
    z = (p1 - p2) / math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return z, 2 * _N.cdf(-abs(z))


def effect_size(p1: float, p2: float) -> float:
    """Cohen's h: the arcsine distance between two proportions."""
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def power(h: float, nobs1: float, alpha: float = 0.05, ratio: float = 1.0) -> float:
    """The power of the two-sided z-test with ``nobs1`` and ``ratio * nobs1`` customers."""
    nobs = 1.0 / (1.0 / nobs1 + 1.0 / (nobs1 * ratio))
    crit = z_critical(alpha)
    shift = h * math.sqrt(nobs)
    return (1 - _N.cdf(crit - shift)) + _N.cdf(-crit - shift)


def n_per_arm(
    p_control: float, p_treated: float, *, alpha: float = 0.05, target: float = 0.8,
    ratio: float = 1.0,
) -> float:  # fmt: skip
    """Customers needed in the first arm (the other has ``ratio`` times as many) to detect the
    difference with power ``target``; ``inf`` when the proportions are equal."""
    h = abs(effect_size(p_control, p_treated))
    if h == 0:
        return math.inf
    # power() rises with n: bracket, then bisect to the last representable step.
    low, high = 1e-9, 2.0
    while power(h, high, alpha, ratio) < target:
        low, high = high, high * 2
    for _ in range(200):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        if power(h, mid, alpha, ratio) < target:
            low = mid
        else:
            high = mid
    return high


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for a chi-square with ``df`` degrees of freedom: Q(df/2, x/2)."""
    if x / 2.0 <= 0:
        return 1.0
    return _gamma_q(df / 2.0, x / 2.0)


def srm(observed: Sequence[int], expected: Sequence[float]) -> tuple[float, float]:
    """Pearson's chi-square of arm sizes against the planned shares: (statistic, p-value).

    A small p-value means the arms are not the sizes the plan drew (customers lost from one arm,
    a join that dropped rows): effects measured on such arms are not to be trusted.
    """
    total = sum(observed)
    share = sum(expected)
    stat = 0.0
    cells = 0
    for o, e in zip(observed, expected, strict=True):
        want = total * e / share
        if want > 0:
            stat += (o - want) ** 2 / want
            cells += 1
        elif o:
            return math.inf, 0.0  # customers where the plan put none
    return stat, chi2_sf(stat, max(cells - 1, 1))


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function (series below a+1, Lentz's continued
    fraction above, as in Numerical Recipes' ``gammq``), to about 1e-15."""
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10_000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < 1e-17:
            break
    return math.exp(log_front) * h
