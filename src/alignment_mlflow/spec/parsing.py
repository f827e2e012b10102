"""Parsers for the human strings of an alignment spec.

Stakeholders write ``>= 0.80``, ``High (>0.8)`` and ``$50/customer``; code needs operators, score
bands and amounts. Each parser takes one string and returns a typed value (keeping the text) or
raises ``ValueError`` with what was found and the forms that are accepted, which the spec loader
turns into a field-level problem. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import cast

from alignment_mlflow.spec.model import (
    ConstraintStatus,
    Money,
    Operator,
    Period,
    Priority,
    Rate,
    Schedule,
    ScoreBand,
    Threshold,
)
from alignment_mlflow.spec.model import slugify as slugify

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_OPS: dict[str, Operator] = {
    ">=": ">=",
    "≥": ">=",
    "=>": ">=",
    ">": ">",
    "<=": "<=",
    "≤": "<=",
    "=<": "<=",
    "<": "<",
    "==": "==",
    "=": "==",
}
_OP = r"(?:>=|=>|≥|<=|=<|≤|==|>|<|=)"


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


# --------------------------------------------------------------------------- slugs


# --------------------------------------------------------------------------- thresholds

_THRESHOLD = re.compile(
    rf"^\s*(?P<label>[A-Za-z][A-Za-z _\-/]*?)?\s*(?P<op>{_OP})?\s*(?P<num>{_NUM})\s*"
    r"(?P<unit>ms|milliseconds?|s|sec|seconds?|%)?\s*(?P<qual>p\d{1,2}(?:\.\d+)?)?\s*$",
    re.IGNORECASE,
)
THRESHOLD_FORMS = "'>= 0.80', '> 0.8', '<= 5', '< 100ms', '< 100ms p99', 'Ratio >= 0.8' or '20%'"


def parse_threshold(text: str) -> Threshold:
    m = _THRESHOLD.match(text)
    if not m or (m.group("label") and not m.group("op")):
        raise ValueError(f"cannot read target {text!r}; write it like {THRESHOLD_FORMS}")
    op = _OPS[m.group("op")] if m.group("op") else ">="
    value = _number(m.group("num"))
    unit = (m.group("unit") or "").lower() or None
    if unit == "%":
        value = value / 100.0
    elif unit in ("millisecond", "milliseconds"):
        unit = "ms"
    elif unit in ("sec", "second", "seconds"):
        unit = "s"
    label = m.group("label").strip() if m.group("label") else None
    qual = m.group("qual").lower() if m.group("qual") else None
    return Threshold(text=text, operator=op, value=value, unit=unit, qualifier=qual, label=label)


# --------------------------------------------------------------------------- risk bands

RISK_FORMS = (
    "'High (>0.8)', 'Medium (0.5-0.8)', 'Low (<0.5)', '>= 0.8', '0.5 to 0.8' or '[0.5, 0.8)', "
    "with scores between 0 and 1"
)


@dataclass(frozen=True)
class RiskLevel:
    """A parsed risk level; ``is_range`` marks ``a-b`` forms, whose closed ends may yield."""

    tier: str
    band: ScoreBand
    is_range: bool


def _band(text: str) -> tuple[ScoreBand, bool]:
    t = text.strip()
    m = re.fullmatch(rf"([\[(])\s*({_NUM})\s*,\s*({_NUM})\s*([\])])", t)
    if m:
        lo, hi = _number(m.group(2)), _number(m.group(3))
        return ScoreBand(lo, hi, m.group(1) == "[", m.group(4) == "]"), False
    m = re.fullmatch(rf"({_NUM})\s*(?:-|–|—|to)\s*({_NUM})", t, re.IGNORECASE)
    if m:
        return ScoreBand(_number(m.group(1)), _number(m.group(2)), True, True), True
    m = re.fullmatch(rf"({_OP})\s*({_NUM})", t)
    if m:
        op, x = _OPS[m.group(1)], _number(m.group(2))
        if op in (">", ">="):
            return ScoreBand(x, 1.0, op == ">=", True), False
        if op in ("<", "<="):
            return ScoreBand(0.0, x, True, op == "<="), False
    raise ValueError(f"cannot read a score band in {text!r}")


def parse_risk_level(text: str) -> RiskLevel:
    t = text.strip()
    interval = re.fullmatch(
        rf"(?P<name>[^()\[\]]*?)\s*(?P<band>[\[(]\s*{_NUM}\s*,\s*{_NUM}\s*[\])])", t
    )
    m = re.fullmatch(r"(?P<name>[^()\[\]]*?)\s*\((?P<band>[^()]*)\)", t)
    if interval:  # "Very High (0.9, 1]" or "[0.5, 0.8)"
        name, band_text = interval.group("name").strip(), interval.group("band")
    elif m:  # "High (>0.8)"
        name, band_text = m.group("name").strip(), m.group("band")
    else:  # ">= 0.8", "0.5 to 0.8"
        name, band_text = "", t
    try:
        band, is_range = _band(band_text)
    except ValueError:
        raise ValueError(f"cannot read risk level {text!r}; write it like {RISK_FORMS}") from None
    for v in (band.min_score, band.max_score):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"risk level {text!r} has score {v:g} outside [0, 1]")
    if band.min_score > band.max_score or (
        band.min_score == band.max_score and not (band.min_inclusive and band.max_inclusive)
    ):
        raise ValueError(f"risk level {text!r} is an empty band {band}")
    return RiskLevel(tier=name or str(band), band=band, is_range=is_range)


def _fmt_interval(lo: float, hi: float, lo_inc: bool, hi_inc: bool) -> str:
    return f"{'[' if lo_inc else '('}{lo:g}, {hi:g}{']' if hi_inc else ')'}"


def partition_bands(levels: list[RiskLevel]) -> tuple[list[RiskLevel], list[str]]:
    """Check that the bands cover [0, 1] with no gap or overlap.

    Returns the bands ordered highest risk first (with shared ends resolved) and a list of
    problems naming both tiers and the interval. At a shared end that both neighbours include, a
    ``a-b`` range yields to a neighbour written with an operator; between two ranges the lower one
    yields, so ``0-0.5`` / ``0.5-0.8`` / ``0.8-1`` reads as the usual half-open bins.
    """
    problems: list[str] = []
    order = sorted(
        range(len(levels)),
        key=lambda i: (levels[i].band.min_score, not levels[i].band.min_inclusive),
    )
    bands = [levels[i] for i in order]
    if not bands:
        return [], ["no risk levels"]
    low, high = bands[0], bands[-1]
    if low.band.min_score > 0 or not low.band.min_inclusive:
        if low.band.min_score == 0:
            bands[0] = replace(low, band=replace(low.band, min_inclusive=True))
        else:
            problems.append(
                f"gap {_fmt_interval(0, low.band.min_score, True, not low.band.min_inclusive)} "
                f"below tier {low.tier!r}: scores there have no tier"
            )
    if high.band.max_score < 1 or not high.band.max_inclusive:
        if high.band.max_score == 1:
            bands[-1] = replace(high, band=replace(high.band, max_inclusive=True))
        else:
            problems.append(
                f"gap {_fmt_interval(high.band.max_score, 1, not high.band.max_inclusive, True)} "
                f"above tier {high.tier!r}: scores there have no tier"
            )
    for i in range(len(bands) - 1):
        a, b = bands[i], bands[i + 1]
        pair = f"tiers {a.tier!r} and {b.tier!r}"
        if a.band.max_score < b.band.min_score:
            gap = _fmt_interval(
                a.band.max_score,
                b.band.min_score,
                not a.band.max_inclusive,
                not b.band.min_inclusive,
            )
            problems.append(f"gap {gap} between {pair}")
        elif a.band.max_score > b.band.min_score:
            over = _fmt_interval(
                b.band.min_score,
                min(a.band.max_score, b.band.max_score),
                b.band.min_inclusive,
                a.band.max_inclusive,
            )
            problems.append(f"overlap {over} between {pair}")
        else:
            x = a.band.max_score
            if a.band.max_inclusive and b.band.min_inclusive:
                if a.is_range:
                    bands[i] = replace(a, band=replace(a.band, max_inclusive=False))
                elif b.is_range:
                    bands[i + 1] = replace(b, band=replace(b.band, min_inclusive=False))
                else:
                    problems.append(f"overlap at {x:g} between {pair}: both include it")
            elif not a.band.max_inclusive and not b.band.min_inclusive:
                problems.append(f"gap at {x:g} between {pair}: neither includes it")
    return list(reversed(bands)), problems


# --------------------------------------------------------------------------- money

_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_CODES = r"USD|EUR|GBP|JPY|INR|CHF|CAD|AUD|SEK|NOK|DKK|PLN|BRL|MXN|CNY|SGD|NZD|ZAR"
_MONEY = re.compile(
    rf"(?P<neg>-)?\s*(?:(?P<sym>[$€£¥₹])\s*(?P<neg2>-)?\s*(?P<n1>{_NUM})\s*(?P<mult1>[kKmM])?"
    rf"(?:\s*(?P<code1>{_CODES}))?"
    rf"|(?P<pre>{_CODES})\s*(?P<n3>{_NUM})\s*(?P<mult3>[kKmM])?"
    rf"|(?P<n2>{_NUM})\s*(?P<mult2>[kKmM])?\s*(?P<code2>{_CODES}|[$€£¥₹]))",
    re.IGNORECASE,
)
MONEY_FORMS = "'$50/customer', '$0.50/customer', '€10 per customer' or '50 USD/customer'"
_MULT = {"k": 1e3, "m": 1e6}


def _match_money(text: str) -> tuple[re.Match[str], float, str] | None:
    m = _MONEY.search(text)
    if not m:
        return None
    num = m.group("n1") or m.group("n2") or m.group("n3")
    mult = m.group("mult1") or m.group("mult2") or m.group("mult3")
    amount = _number(num) * _MULT.get((mult or "").lower(), 1.0)
    if m.group("neg") or m.group("neg2"):
        amount = -abs(amount)
    cur = m.group("sym") or m.group("code2") or m.group("pre") or ""
    code = m.group("code1") or _CURRENCY_SYMBOLS.get(cur) or cur.upper()
    return m, amount, code.upper()


#: No cost or budget comes near this; beyond it floats lose cents and sums overflow.
MAX_AMOUNT = 1e15


def _check_amount(kind: str, text: str, amount: float) -> None:
    """``$1e308k`` overflows to infinity only after the multiplier; ``$1e20`` is finite nonsense."""
    if not math.isfinite(amount):
        raise ValueError(f"{kind} {text!r} is not a finite amount; write the amount in digits")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"{kind} {text!r} is over {MAX_AMOUNT:,.0f}; is the multiplier right?")


def parse_money(text: str) -> Money:
    found = _match_money(text)
    if not found:
        raise ValueError(f"cannot read cost {text!r}; write it like {MONEY_FORMS}")
    m, amount, currency = found
    _check_amount("cost", text, amount)
    if amount < 0:
        raise ValueError(f"cost {text!r} is negative; a cost is an amount >= 0")
    rest = text[m.end() :].strip()
    if text[: m.start()].strip():
        raise ValueError(f"cannot read cost {text!r}; write it like {MONEY_FORMS}")
    unit = None
    if rest:
        um = re.fullmatch(r"(?:/|per\b|a\b|each\b)\s*([A-Za-z][A-Za-z ]*?)\s*", rest, re.I)
        if not um:
            raise ValueError(f"cannot read the unit in cost {text!r}; write it like {MONEY_FORMS}")
        unit = um.group(1).lower()
    return Money(text=text, amount=amount, currency=currency, unit=unit)


_PERIODS: dict[str, Period] = {
    "hour": "hourly",
    "hourly": "hourly",
    "day": "daily",
    "daily": "daily",
    "week": "weekly",
    "weekly": "weekly",
    "month": "monthly",
    "monthly": "monthly",
    "quarter": "quarterly",
    "quarterly": "quarterly",
    "year": "yearly",
    "yearly": "yearly",
    "annually": "yearly",
    "annual": "yearly",
}


def _period_in(text: str, *, standalone: bool) -> Period | None:
    low = text.lower()
    m = re.search(r"(?:per|/|a|each|every)\s*(hour|day|week|month|quarter|year)\b", low)
    if m:
        return _PERIODS[m.group(1)]
    words = r"hourly|daily|weekly|monthly|quarterly|yearly|annually|annual"
    if standalone:
        words += r"|hour|day|week|month|quarter|year"
    m = re.search(rf"\b({words})\b", low)
    return _PERIODS[m.group(1)] if m else None


def parse_budget(text: str) -> Money | None:
    """``$50k for retention campaigns per month`` -> 50000 USD monthly; None when unreadable.

    Free text stays text, but an amount that overflows or is absurd raises ``ValueError``.
    """
    found = _match_money(text)
    if not found:
        return None
    _, amount, currency = found
    _check_amount("budget", text, amount)
    if amount < 0:
        return None
    return Money(
        text=text, amount=amount, currency=currency, period=_period_in(text, standalone=False)
    )


# --------------------------------------------------------------------------- rates

_RATE = re.compile(rf"^\s*(?P<num>{_NUM})\s*(?P<pct>%)?\s*(?P<label>[A-Za-z][\w \-]*)?\s*$")
RATE_FORMS = "'40% retention', '40%' or '0.4' (a fraction between 0 and 1)"


def parse_rate(text: str) -> Rate:
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"cannot read rate {text!r}; write it like {RATE_FORMS}")
    value = _number(m.group("num"))
    if m.group("pct"):
        value /= 100.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"rate {text!r} is {value:g}, outside [0, 1] (0% to 100%)")
    label = m.group("label").strip() if m.group("label") else None
    return Rate(text=text, value=value, label=label)


# --------------------------------------------------------------------------- deployment


def parse_schedule(text: str) -> Schedule | None:
    """``Monthly or on significant drift`` -> monthly + drift trigger; None for free text."""
    period = _period_in(text, standalone=False)
    on_drift = bool(re.search(r"\bdrift", text, re.I))
    if period is None and not on_drift:
        return None
    return Schedule(text=text, period=period, on_drift=on_drift)


def parse_scoring_modes(text: str) -> frozenset[str] | None:
    low = text.lower()
    modes = set()
    if "batch" in low:
        modes.add("batch")
    if re.search(r"real[\s_-]?time|online|streaming", low):
        modes.add("real_time")
    return frozenset(modes) or None


_STATUSES: dict[str, ConstraintStatus] = {
    "to verify": "to_verify",
    "to_verify": "to_verify",
    "to-verify": "to_verify",
    "pending": "to_verify",
    "passed": "passed",
    "pass": "passed",
    "failed": "failed",
    "fail": "failed",
    "manual": "manual",
}


def parse_status(text: str) -> ConstraintStatus:
    key = " ".join(text.strip().lower().split())
    if key not in _STATUSES:
        raise ValueError(
            f"unknown status {text!r}; use one of 'To verify', 'Passed', 'Failed', 'Manual'"
        )
    return _STATUSES[key]


def parse_priority(text: str) -> Priority:
    key = text.strip().capitalize()
    if key not in ("High", "Medium", "Low"):
        raise ValueError(f"unknown priority {text!r}; use High, Medium or Low")
    return cast(Priority, key)
