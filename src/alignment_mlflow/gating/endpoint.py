"""A serving endpoint's latency as a gate measurement: what one metrics export says. Pure.

Databricks exports a serving endpoint's health metrics as Prometheus text (``GET
/api/2.0/serving-endpoints/{name}/metrics``, databricks-sdk ``serving_endpoints.export_metrics``);
the round-trip latency is the ``request_latency_ms`` family (Databricks documents its P50/P99,
aggregated per minute). The export is a snapshot, not a history: it holds what the endpoint
aggregated at the moment of the call, one point per series. So the window is realised like this:

- a sample that carries a timestamp older than ``exported_at - window`` is left out (its whole
  series: buckets, count and sum together); a sample without a timestamp is taken as of the export;
- nothing older than the export is reconstructed: the gate judges what the export holds within the
  window and records how many requests that is (``samples``) and from when (``covered_from``, the
  oldest timestamp kept, or None when the export carries none).

The percentile of a histogram is known only to a bucket: the nearest-rank percentile lies in
``(lower, upper]`` of the bucket holding rank ``ceil(q * n)``. The gate judges that interval (a
``< 100 ms`` target is met only when ``upper < 100``), so a coarse histogram can fail a target but
never passes one it might miss. A summary's quantiles are exact per series (several series bound
the quantile of their union between their least and greatest value). No request in the window is
``not_measured``: never met.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignment_mlflow.gating.prometheus import Exposition, Sample

LATENCY_FAMILY = "request_latency_ms"
DEFAULT_WINDOW = "24h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WINDOW = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*\Z")
MAX_WINDOW_S = 90 * 86400


def parse_window(text: str) -> int:
    """``24h`` -> 86400 seconds; ValueError naming the accepted forms."""
    m = _WINDOW.match(text or "")
    seconds = float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0
    if not m or not 1 <= seconds <= MAX_WINDOW_S:
        raise ValueError(
            f"--window {text!r} is not a duration between 1s and 90d; write a number and one of "
            "s, m, h, d, w, e.g. --window 30m, --window 24h or --window 7d"
        )
    return int(seconds)


def percentile_fraction(qualifier: str) -> float:
    """``p99`` -> 0.99, ``p99.9`` -> 0.999."""
    return float(qualifier.lstrip("pP")) / 100


def _iso(ms: int) -> str:
    stamp = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Measurement:
    """The endpoint's latency as one export shows it within the window."""

    endpoint: str
    window: str  # as given, "24h"
    window_seconds: int
    exported_at: str  # UTC ISO: this host's clock when the export was read
    kind: str  # "histogram" | "summary" | "absent"
    samples: int  # requests the kept series count
    covered_from: str | None = None  # oldest kept sample timestamp (UTC ISO); None: no timestamps
    dropped_series: int = 0  # series older than the window
    metric: str = LATENCY_FAMILY
    buckets: tuple[tuple[float, float], ...] = ()  # (le, cumulative count), le ascending
    quantiles: tuple[tuple[float, float, float], ...] = ()  # (q, least, greatest) over series

    def bounds(self, q: float) -> tuple[float, float] | None:
        """The q-quantile's (lower, upper] in ms, or None when nothing was measured."""
        if self.samples <= 0:
            return None
        if self.kind == "summary":
            hit = [(lo, hi) for qq, lo, hi in self.quantiles if math.isclose(qq, q)]
            return hit[0] if hit else None
        rank = math.ceil(q * self.samples - 1e-9)
        lower = 0.0
        for le, cumulative in self.buckets:
            if cumulative >= rank:
                return lower, le
            lower = le
        return lower, math.inf

    def source(self) -> str:
        return f"serving endpoint {self.endpoint} (metrics export at {self.exported_at})"

    def text(self) -> str:
        """One line for tags and notes."""
        kept = f" since {self.covered_from}" if self.covered_from else ""
        return (
            f"endpoint={self.endpoint} metric={self.metric} samples={self.samples}{kept} "
            f"window={self.window} exported_at={self.exported_at}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "source": "serving_endpoints.export_metrics",
            "metric": self.metric,
            "window": self.window,
            "window_seconds": self.window_seconds,
            "samples": self.samples,
            "covered_from": self.covered_from,
            "exported_at": self.exported_at,
        }


def _series_key(s: Sample, drop: str) -> tuple[tuple[str, str], ...]:
    return tuple(kv for kv in s.labels if kv[0] != drop)


def _fresh(samples: list[Sample], cutoff_ms: int) -> bool:
    stamps = [s.timestamp_ms for s in samples if s.timestamp_ms is not None]
    return not stamps or min(stamps) >= cutoff_ms


def measure(
    exposition: Exposition, *, endpoint: str, window: str, exported_at_ms: int
) -> Measurement:
    """The latency measurement of one export; ValueError when the family is malformed."""
    window_s = parse_window(window)
    cutoff = exported_at_ms - window_s * 1000
    fam = LATENCY_FAMILY
    kind = exposition.types.get(fam)
    ours = [s for s in exposition.samples if s.name == fam or s.name.startswith(fam + "_")]
    if kind is None:
        kind = "histogram" if any(s.name == f"{fam}_bucket" for s in ours) else None
        kind = kind or ("summary" if any(s.label("quantile") for s in ours) else None)
    base: dict[str, Any] = {
        "endpoint": endpoint,
        "window": window.strip(),
        "window_seconds": window_s,
        "exported_at": _iso(exported_at_ms),
    }
    if not ours or kind not in ("histogram", "summary"):
        return Measurement(kind="absent", samples=0, **base)
    drop = "le" if kind == "histogram" else "quantile"
    series: dict[tuple[tuple[str, str], ...], list[Sample]] = {}
    for s in ours:
        series.setdefault(_series_key(s, drop), []).append(s)
    kept = {k: v for k, v in series.items() if _fresh(v, cutoff)}
    stamps = [s.timestamp_ms for v in kept.values() for s in v if s.timestamp_ms is not None]
    base["covered_from"] = _iso(min(stamps)) if stamps else None
    base["dropped_series"] = len(series) - len(kept)
    if kind == "histogram":
        buckets, count = _histogram(kept)
        return Measurement(kind=kind, samples=count, buckets=buckets, **base)
    quantiles, count = _summary(kept)
    return Measurement(kind=kind, samples=count, quantiles=quantiles, **base)


def _count(samples: list[Sample], name: str) -> int | None:
    values = [s.value for s in samples if s.name == name]
    if not values:
        return None
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{name} is not a count: {values[0]!r}")
    return int(sum(values))


def _histogram(
    kept: Mapping[tuple[tuple[str, str], ...], list[Sample]],
) -> tuple[tuple[tuple[float, float], ...], int]:
    total: dict[float, float] = {}
    count = 0
    for samples in kept.values():
        for s in samples:
            if s.name != f"{LATENCY_FAMILY}_bucket":
                continue
            le = s.label("le")
            try:
                edge = float(le) if le is not None else math.nan
            except ValueError:
                edge = math.nan
            if math.isnan(edge) or not math.isfinite(s.value) or s.value < 0:
                raise ValueError(f"{LATENCY_FAMILY}_bucket has a bad le={le!r} or count")
            total[edge] = total.get(edge, 0.0) + s.value
        own = _count(samples, f"{LATENCY_FAMILY}_count")
        inf = [s.value for s in samples if s.label("le") in ("+Inf", "Inf", "inf")]
        count += own if own is not None else int(sum(inf))
    buckets = tuple(sorted(total.items()))
    cumulative = [c for _, c in buckets]
    if cumulative != sorted(cumulative):
        raise ValueError(f"{LATENCY_FAMILY} buckets are not cumulative")
    return buckets, count


def _summary(
    kept: Mapping[tuple[tuple[str, str], ...], list[Sample]],
) -> tuple[tuple[tuple[float, float, float], ...], int]:
    per_q: dict[float, list[float]] = {}
    count = 0
    for samples in kept.values():
        for s in samples:
            q = s.label("quantile")
            if s.name == LATENCY_FAMILY and q is not None and not math.isnan(s.value):
                per_q.setdefault(float(q), []).append(s.value)
        count += _count(samples, f"{LATENCY_FAMILY}_count") or 0
    return tuple((q, min(v), max(v)) for q, v in sorted(per_q.items())), count
