"""Judge logged metric values against a spec's success metrics. Pure: no I/O, no MLflow.

Rules (the README's "verdict rules"):
- operators exactly as parsed: ``<`` and ``>`` are strict, ``<=`` and ``>=`` inclusive; ``==``
  is met when the values agree within a relative 1e-9 or absolute 1e-12 (float noise from the
  training code, never a real difference); values compare as the decimals they print as, after
  converting the logged unit to the target's (see :mod:`alignment_mlflow.gating.parsing`);
- a NaN value is ``unmet`` (a degenerate metric must not pass);
- per metric: ``met``, ``unmet``, ``not_measured`` (no value found: the keys looked for are
  named), or ``deferred`` (``measured_on: business``: judged after a campaign, never blocks);
- overall: ``failed`` if any metric is unmet, else ``incomplete`` if a High-priority model or
  serving metric is not measured, else ``passed``.
Bad input raises :class:`InvalidInputError` with every problem at once, before anything is written.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.gating.endpoint import Measurement
from alignment_mlflow.gating.parsing import (
    TIME_UNITS,
    MetricKey,
    convert,
    decimal,
    logged_unit,
    parse_metric_key,
    percentile,
)
from alignment_mlflow.spec.model import AlignmentSpec, Operator, SuccessMetric
from alignment_mlflow.tagkeys import ALIGNMENT_RUN, GATED_MODELS, hidden, legacy_keys

Status = Literal["met", "unmet", "not_measured", "deferred"]
Verdict = Literal["passed", "failed", "incomplete"]
EQ_REL_TOL = Decimal("1e-9")
EQ_ABS_TOL = Decimal("1e-12")

# On the model's run, in view (``tagkeys``): the verdict, why, the alignment it was gated
# against. Per-metric statuses, digests and the URL are bookkeeping, out of the Tags panel.
VERDICT_TAG = "alignment.verdict"
REASONS_TAG = "alignment.why"
ALIGNMENT_RUN_TAG = ALIGNMENT_RUN
METRIC_TAG_PREFIX = hidden("verdict.")
MEASURED_TAG_PREFIX = hidden("measured.")  # how an endpoint-measured metric was measured
MEASURED_VERSION_TAG = "alignment_serving_measurement"
SPEC_TAG = hidden("spec_sha256")
DIGEST_TAG = hidden("verdict_digest")
ALIGNMENT_URL_TAG = hidden("alignment_run_url")
GATED_MODELS_TAG = GATED_MODELS  # on the alignment run
GATED_MODELS_LIMIT = 20
TABLE_PATH = "alignment_gate/verdict.json"


def compare(observed: Decimal, op: Operator, target: Decimal) -> bool:
    if observed.is_nan():
        return False
    if op == "==":
        if observed.is_infinite() or target.is_infinite():
            return observed == target
        tol = max(EQ_REL_TOL * max(abs(observed), abs(target)), EQ_ABS_TOL)
        return abs(observed - target) <= tol
    return {
        ">=": observed >= target,
        ">": observed > target,
        "<=": observed <= target,
        "<": observed < target,
    }[op]


@dataclass(frozen=True)
class MetricResult:
    slug: str
    metric: str
    target: str  # as written in the spec
    priority: str
    measured_on: str
    status: Status
    metric_key: str | None = None
    value: float | None = None  # as logged, in the logged unit
    compared: str = ""  # "85 ms < 100 ms"
    note: str = ""  # why not measured / how the value was found
    # Measured on a serving endpoint (gate --endpoint): the export, the percentile and its
    # (lower, upper] bounds in ms; None for a value a model run logged.
    measurement: Measurement | None = None
    percentile: str | None = None
    bounds: tuple[float, float] | None = None

    def measured_text(self) -> str:
        """How the value was measured, one line (tags, the table); "" for a logged value."""
        if self.measurement is None:
            return ""
        if self.bounds is None:
            return f"{self.percentile} not measured; {self.measurement.text()}"
        lo, hi = self.bounds
        where = f"{hi:g} ms" if lo == hi else f"in ({lo:g}, {hi:g}] ms"
        return f"{self.percentile} {where}; {self.measurement.text()}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.slug,
            "target": self.target,
            "metric_key": self.metric_key,
            "value": self.value,
            "status": self.status,
        }
        if self.measurement is not None:  # only then: the keys above are a contract
            lo, hi = self.bounds or (None, None)
            out["measurement"] = {
                **self.measurement.to_json(),
                "percentile": self.percentile,
                "lower_ms": lo,
                "upper_ms": hi if hi is None or hi != float("inf") else None,
            }
        return out


@dataclass(frozen=True)
class GateVerdict:
    verdict: Verdict
    metrics: tuple[MetricResult, ...]
    spec_sha256: str

    def table(self) -> dict[str, Any]:
        """The verdict as an MLflow table (pandas ``orient="split"``, what the UI reads)."""
        cols = ["metric", "target", "priority", "measured_on", "metric_key", "value", "status"]
        rows: list[list[Any]] = [
            [m.slug, m.target, m.priority, m.measured_on, m.metric_key, m.value, m.status]
            for m in self.metrics
        ]
        if any(m.measurement is not None for m in self.metrics):  # gate --endpoint only
            cols.append("measured")
            for row, m in zip(rows, self.metrics, strict=True):
                row.append(m.measured_text() or None)
        return {"columns": cols, "data": rows}

    @property
    def digest(self) -> str:
        """Changes when anything the table shows changes, so a rerun can skip the upload."""
        blob = json.dumps([self.verdict, self.spec_sha256, self.table()], sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def overall(results: tuple[MetricResult, ...]) -> Verdict:
    if any(r.status == "unmet" for r in results):
        return "failed"
    # An endpoint asked for and not measured blocks whatever its priority: "not measured" must
    # never read as "met" when the measurement was the point of the call.
    if any(
        r.status == "not_measured"
        and (r.priority == "High" or r.measurement is not None)
        and r.measured_on != "business"
        for r in results
    ):
        return "incomplete"
    return "passed"


#: Metrics that are fractions by definition (a logged 1.3 AUC is a logging bug, not a good model).
_UNIT_INTERVAL = ("auc", "precision", "recall", "f1", "accuracy", "specificity", "sensitivity")


def impossible_value(
    observed: Decimal, target_unit: str | None, metric: str, key: str
) -> str | None:
    """Why ``observed`` cannot be a value of this metric, or None. An impossible value never
    meets a target: ``+inf`` would pass every ``>=`` and ``-inf`` every latency bound."""
    if observed.is_nan():
        return None  # compare() already fails it and the note says NaN
    if observed.is_infinite():
        return f"the value is {'-' if observed < 0 else '+'}inf, which no metric can be"
    if target_unit in TIME_UNITS and observed < 0:
        return "the value is negative, which no latency or duration can be"
    names = f"{metric} {key}".lower()
    bounded = target_unit == "%" or any(word in names for word in _UNIT_INTERVAL)
    if bounded and not Decimal(0) <= observed <= Decimal(1):
        if target_unit == "%":
            return "the value is outside 0-100%, which no rate can be"
        return "the value is outside [0, 1], which this metric cannot be"
    return None


def _fmt(d: Decimal, unit: str | None) -> str:
    if unit == "%":
        return f"{float(d):.2%}"
    text = f"{float(d):g}"
    return f"{text} {unit}" if unit else text


def _judge_one(
    m: SuccessMetric, mk: MetricKey, value: float, source: str, problems: list[str]
) -> MetricResult | None:
    t = m.target
    try:
        unit = logged_unit(t.unit, mk)
    except ValueError as exc:
        problems.append(f"{m.slug}: {exc}")
        return None
    have = percentile(mk.key)
    if t.qualifier and have and have != t.qualifier:
        problems.append(
            f"{m.slug}: the target is {t.qualifier} ({t.text!r}) but {mk.key!r} is {have}; "
            f"map the {t.qualifier} metric: --metric {m.slug}=<its key>"
        )
        return None
    observed = convert(value, unit, t.unit)
    target = decimal(t.value)
    impossible = impossible_value(observed, t.unit, m.metric, mk.key)
    met = impossible is None and compare(observed, t.operator, target)
    label = f"{t.label} " if t.label else ""
    compared = f"{label}{_fmt(observed, t.unit)} {t.operator} {_fmt(target, t.unit)}"
    note = f"{mk} (from {source})"
    if t.qualifier and not have:
        note += f" (read as the target's {t.qualifier})"
    if observed.is_nan():
        note += "; the value is NaN"
    if impossible:
        note += f"; {impossible}, so it is unmet: check what the model run logged"
    return MetricResult(
        *_ids(m),
        "met" if met else "unmet",
        mk.key,
        value,
        compared,
        note,
    )


def _ids(m: SuccessMetric) -> tuple[str, str, str, str, str]:
    return m.slug, m.metric, m.target.text, m.priority, m.measured_on


def judge(
    spec: AlignmentSpec,
    logged: Mapping[str, float],
    mappings: Mapping[str, MetricKey] | None = None,
    measured: Mapping[str, MetricResult] | None = None,
) -> GateVerdict:
    """Judge ``logged`` (metric key -> latest value of the model) against ``spec``.

    A value comes from ``mappings`` (``--metric``: the key must exist), else ``mlflow_metric``,
    else a key equal to the slug; spec mappings that the run did not log are ``not_measured``.
    ``measured`` holds results judged elsewhere (a serving endpoint's latency, ``gating.measured``)
    by slug: they replace the run's value; a slug the spec's success metrics lack (the deployment
    requirement) is appended.
    """
    mappings = dict(mappings or {})
    measured = dict(measured or {})
    problems: list[str] = []
    by_slug = {m.slug: m for m in spec.success_metrics}
    for slug, mk in mappings.items():
        if slug in measured:
            problems.append(
                f"--metric {slug}={mk}: {slug!r} is measured on the serving endpoint (--endpoint); "
                "drop one of them"
            )
        elif slug not in by_slug:
            close = difflib.get_close_matches(slug, list(by_slug), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            hint += "the spec's metrics are "
            known = ", ".join(by_slug)
            problems.append(f"--metric {slug}={mk}: no success metric {slug!r}; {hint}{known}")
        elif by_slug[slug].measured_on == "business":
            problems.append(
                f"--metric {slug}={mk}: {slug!r} is measured_on business (judged after a "
                "campaign, never from a model run); set measured_on: model in the spec to gate it"
            )
        elif mk.key not in logged:
            close = difflib.get_close_matches(mk.key, list(logged), n=3)
            hint = f"close: {', '.join(close)}" if close else f"{len(logged)} keys logged"
            problems.append(f"--metric {slug}={mk}: the model logged no metric {mk.key!r} ({hint})")
    if all(m.measured_on == "business" for m in spec.success_metrics):
        problems.append(
            "the spec has no measurable success metric: every one is measured_on business; "
            "give a model metric (e.g. Model AUC, mlflow_metric: roc_auc) to gate a model"
        )
    results: list[MetricResult] = []
    for m in spec.success_metrics:
        if m.measured_on == "business":
            note = "business target: judged after a campaign, not on a model run"
            results.append(MetricResult(*_ids(m), "deferred", note=note))
            continue
        if m.slug in measured:
            results.append(measured.pop(m.slug))
            continue
        candidates: list[tuple[MetricKey, str]] = []
        if m.slug in mappings:
            candidates.append((mappings[m.slug], "--metric"))
        else:
            if m.mlflow_metric:
                candidates.append((parse_metric_key(m.mlflow_metric), "mlflow_metric"))
            candidates.append((MetricKey(m.slug), "slug"))
        found = next(((mk, src) for mk, src in candidates if mk.key in logged), None)
        if found is None:
            looked = ", ".join(dict.fromkeys(repr(mk.key) for mk, _ in candidates))
            note = (
                f"looked for {looked}; map one: --metric {m.slug}=KEY, or mlflow_metric: KEY "
                "in the spec"
            )
            results.append(MetricResult(*_ids(m), "not_measured", note=note))
            continue
        mk, src = found
        r = _judge_one(m, mk, float(logged[mk.key]), src, problems)
        if r is not None:
            results.append(r)
    results += measured.values()  # measured requirements that are not success metrics
    if not problems and not any(r.status in ("met", "unmet") for r in results):
        keys = ", ".join(sorted(logged)[:20]) or "none"
        problems.append(
            "no success metric has a value in this model: nothing to judge (logged keys: "
            f"{keys}); map them with --metric SLUG=KEY or mlflow_metric in the spec"
        )
    if problems:
        raise InvalidInputError(lines=["cannot gate this model:", *(f"  - {p}" for p in problems)])
    done = tuple(results)
    return GateVerdict(overall(done), done, spec.sha256)


# --------------------------------------------------------------------------- what gets written


def run_tags(
    v: GateVerdict, *, alignment_run_id: str | None = None, alignment_run_url: str | None = None
) -> dict[str, str]:
    tags = {VERDICT_TAG: v.verdict, REASONS_TAG: reasons(v), SPEC_TAG: v.spec_sha256}
    for m in v.metrics:
        tags[f"{METRIC_TAG_PREFIX}{m.slug}"] = m.status
        if m.measurement is not None:
            tags[f"{MEASURED_TAG_PREFIX}{m.slug}"] = m.measured_text()
    if alignment_run_id:
        tags[ALIGNMENT_RUN_TAG] = alignment_run_id
    if alignment_run_url:
        tags[ALIGNMENT_URL_TAG] = alignment_run_url
    tags[DIGEST_TAG] = v.digest  # last: it says the table artifact matches
    return tags


def reasons(v: GateVerdict) -> str:
    """What decided the verdict, in one tag: the metrics that are not met, with their status."""
    return "; ".join(f"{m.slug}: {m.status}" for m in v.metrics if m.status != "met")


def stale_run_tags(existing: Mapping[str, str], wanted: Mapping[str, str]) -> list[str]:
    """Per-metric verdict tags of metrics the spec no longer has (a gate against a newer spec),
    and the tags a gate of the previous release left in view (``tagkeys.legacy_keys``)."""
    ours = {
        k
        for k in existing
        if k.startswith((METRIC_TAG_PREFIX, MEASURED_TAG_PREFIX))
        and k not in wanted
        and k != DIGEST_TAG
    }
    return sorted(ours | set(legacy_keys(existing, wanted)))


def version_tags(v: GateVerdict, *, alignment_run_id: str | None = None) -> dict[str, str]:
    """Underscore keys and short values: Unity Catalog and the workspace registry accept them."""
    tags = {"alignment_verdict": v.verdict, "alignment_spec_sha256": v.spec_sha256}
    if alignment_run_id:
        tags["alignment_run_id"] = alignment_run_id
    measured = next((m.measurement for m in v.metrics if m.measurement is not None), None)
    if measured is not None:
        tags[MEASURED_VERSION_TAG] = measured.text()[:250]
    return tags


def gated_models(existing: str | None, ref: str, verdict: str) -> str:
    """The alignment run's bounded record of gated models: JSON ``{ref: verdict}``, newest last,
    at most :data:`GATED_MODELS_LIMIT`; the same entry again leaves the text unchanged."""
    try:
        loaded = json.loads(existing) if existing else {}
    except ValueError:
        loaded = {}
    entries: dict[str, str] = (
        {str(k): str(val) for k, val in loaded.items()} if isinstance(loaded, dict) else {}
    )
    if entries.get(ref) != verdict:
        entries.pop(ref, None)
        entries[ref] = verdict
    while len(entries) > GATED_MODELS_LIMIT:
        entries.pop(next(iter(entries)))
    return json.dumps(entries, separators=(",", ":"))


def logged_artifacts(existing: str | None) -> str | None:
    """The ``mlflow.loggedArtifacts`` tag with the verdict table listed, or None when it already
    is; entries the user logged are kept."""
    try:
        loaded = json.loads(existing) if existing else []
    except ValueError:
        loaded = []
    items: list[Any] = loaded if isinstance(loaded, list) else []
    if any(isinstance(i, Mapping) and i.get("path") == TABLE_PATH for i in items):
        return None
    return json.dumps([*items, {"path": TABLE_PATH, "type": "table"}])
