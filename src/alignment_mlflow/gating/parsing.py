"""The strings a gate user types, read into values. Pure: no I/O.

Unit convention (the spec's target names its unit; the logged value's unit comes from the key):
- an explicit suffix wins: ``latency_p99:s`` or ``latency_p99:ms`` (``--metric`` or
  ``mlflow_metric``), ``precision:%`` for a value logged as a percentage (62.0, not 0.62);
- else the key's own suffix: ``*_ms``/``*_millis``/``*_milliseconds`` are milliseconds,
  ``*_s``/``*_sec``/``*_secs``/``*_seconds`` are seconds;
- a time target (``< 100ms``) against a key with no unit is refused (exit 2): guessing would
  silently turn 0.085 s into "0.085 ms, met";
- a ``%`` target is compared with a fraction (MLflow's and scikit-learn's convention: 0.62)
  unless the key says ``:%``; a target with no unit compares the value as logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

# One parser of model-version references for every room (re-exported: the gate reads it here).
from alignment_mlflow.tracking.models import parse_model_version as parse_model_version

UNITS = ("ms", "s", "%")
TIME_UNITS = ("ms", "s")
# How many milliseconds one unit is: conversions are exact decimal multiplications.
_TO_MS = {"ms": Decimal(1), "s": Decimal(1000)}
_SUFFIX_UNITS = (
    (("_milliseconds", "_millis", "_ms"), "ms"),
    (("_seconds", "_secs", "_sec", "_s"), "s"),
)
_PERCENTILE = re.compile(r"(?:^|[_.\-/ ])p(\d{1,2}(?:\.\d+)?)(?=$|[_.\-/ :])", re.IGNORECASE)
_ALIAS = re.compile(r"\A[A-Za-z0-9_\-]{1,255}\Z")  # \Z: "$" lets a trailing newline in


@dataclass(frozen=True)
class MetricKey:
    """A metric key in a model run, with the unit its value was logged in when the user said."""

    key: str
    unit: str | None = None  # explicit ":ms" / ":s" / ":%"

    def __str__(self) -> str:
        return f"{self.key}:{self.unit}" if self.unit else self.key


def parse_metric_key(text: str) -> MetricKey:
    """``latency_p99:s`` -> key ``latency_p99``, unit ``s``; a colon followed by anything but a
    unit stays part of the key (MLflow allows colons in keys)."""
    key, sep, unit = text.strip().rpartition(":")
    if sep and unit in UNITS and key:
        return MetricKey(key, unit)
    return MetricKey(text.strip())


def parse_metric_option(text: str) -> tuple[str, MetricKey]:
    """``--metric SLUG=KEY[:unit]``."""
    slug, sep, key = text.partition("=")
    if not sep or not slug.strip() or not key.strip():
        raise ValueError(
            f"--metric {text!r} is not SLUG=KEY; write e.g. --metric model_auc=roc_auc "
            "or --metric model_latency=latency_p99:s"
        )
    return slug.strip(), parse_metric_key(key)


def check_alias(alias: str) -> str:
    """Refused before anything is written: the registry would refuse it after the tags."""
    if not _ALIAS.match(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise ValueError(
            f"--promote-alias {alias!r} is not a usable alias: letters, digits, '_' and '-' only, "
            "not 'latest' and not v<number> (e.g. champion)"
        )
    return alias


def key_unit(key: str) -> str | None:
    """The time unit a key's own suffix names (``latency_p99_s`` -> ``s``), else None."""
    low = key.lower()
    for suffixes, unit in _SUFFIX_UNITS:
        if low.endswith(suffixes):
            return unit
    return None


def percentile(key: str) -> str | None:
    """The percentile a key names (``latency_p99_ms`` -> ``p99``), else None."""
    m = _PERCENTILE.search(key)
    return f"p{m.group(1)}" if m else None


def logged_unit(target_unit: str | None, mk: MetricKey) -> str | None:
    """The unit the logged value is in, per the convention above; ValueError when it cannot be
    compared with the target."""
    if target_unit is None:
        if mk.unit is not None:
            raise ValueError(f"{mk} gives a unit but the target has none; drop ':{mk.unit}'")
        return None
    if target_unit == "%":
        if mk.unit in TIME_UNITS:
            raise ValueError(f"{mk} is a time but the target is a percentage")
        return mk.unit  # "%" or None (a fraction)
    unit = mk.unit or key_unit(mk.key)
    if unit == "%":
        raise ValueError(f"{mk} is a percentage but the target is in {target_unit}")
    if unit is None:
        raise ValueError(
            f"cannot tell whether {mk.key!r} is in seconds or milliseconds (the target is in "
            f"{target_unit}); name the unit: {mk.key}:s or {mk.key}:ms (in --metric or "
            "mlflow_metric), or log it as *_s / *_ms"
        )
    return unit


def decimal(value: float) -> Decimal:
    """A float as the decimal it prints as: 0.07 is 0.07, so conversions never invent a
    rounding error at a boundary (0.07 s is exactly 70 ms)."""
    return Decimal(repr(float(value)))


def convert(value: float, unit: str | None, target_unit: str | None) -> Decimal:
    """The logged value in the target's unit (a ``%`` target is held as a fraction)."""
    d = decimal(value)
    if d.is_nan() or d.is_infinite():
        return d
    if target_unit == "%":
        return d / 100 if unit == "%" else d
    if target_unit in TIME_UNITS and unit in TIME_UNITS:
        return d * _TO_MS[unit] / _TO_MS[target_unit]
    return d
