"""Success metrics judged on a serving endpoint instead of a model run (``gate --endpoint``). Pure.

Which metrics: every ``measured_on: serving`` success metric whose target is a time (``< 100ms``),
and the deployment requirement ``real_time_latency`` (``< 100ms p99``) as the row
``real_time_latency`` (priority High: it is a requirement, not a wish), unless a success metric
already has that slug. Which percentile: the target's own (``p95``), else the deployment
requirement's, else p99 (the figure Databricks documents for endpoint latency). The operator is
the spec's, exactly: ``< 100ms`` is not met by 100 ms.
"""

from __future__ import annotations

import math

from alignment_mlflow.gating.endpoint import Measurement, percentile_fraction
from alignment_mlflow.gating.parsing import TIME_UNITS, convert, decimal
from alignment_mlflow.gating.verdict import MetricResult, compare
from alignment_mlflow.spec.model import AlignmentSpec, SuccessMetric

DEPLOYMENT_SLUG = "real_time_latency"


def endpoint_metrics(spec: AlignmentSpec) -> list[SuccessMetric]:
    """The metrics an endpoint's latency judges (empty: ``--endpoint`` has nothing to judge)."""
    out = [
        m
        for m in spec.success_metrics
        if m.measured_on == "serving" and m.target.unit in TIME_UNITS
    ]
    dep = spec.deployment_requirements.real_time_latency
    own = any(m.slug == DEPLOYMENT_SLUG for m in spec.success_metrics)
    if dep is not None and dep.unit in TIME_UNITS and not own:
        out.append(
            SuccessMetric(
                metric="Real-time latency (deployment requirement)",
                slug=DEPLOYMENT_SLUG,
                target=dep,
                priority="High",
                rationale="deployment_requirements.real_time_latency",
                raw={},
                measured_on="serving",
            )
        )
    return out


def _fmt_ms(value: float) -> str:
    return "+inf ms" if math.isinf(value) else f"{value:g} ms"


def judge_one(m: SuccessMetric, meas: Measurement, qualifier: str) -> MetricResult:
    t = m.target
    ids = (m.slug, m.metric, t.text, m.priority, m.measured_on)
    bounds = meas.bounds(percentile_fraction(qualifier))
    if bounds is None:
        why = (
            f"the export has no {meas.metric} {meas.kind} {qualifier}"
            if meas.samples > 0
            else f"no request in the {meas.window} window"
        )
        note = f"{meas.source()}: {why} (samples={meas.samples}); not measured, never met"
        return MetricResult(
            *ids,
            "not_measured",
            metric_key=meas.metric,
            note=note,
            measurement=meas,
            percentile=qualifier,
        )
    lo, hi = bounds
    target = decimal(t.value)
    lo_d, hi_d = convert(lo, "ms", t.unit), convert(hi, "ms", t.unit)
    met = compare(lo_d, t.operator, target) and compare(hi_d, t.operator, target)
    goal = f"{t.operator} {t.value:g} {t.unit}"
    if lo == hi:
        compared = f"{qualifier} {_fmt_ms(hi)} {goal}"
    else:
        compared = f"{qualifier} in ({lo:g}, {hi:g}] ms {goal}"
    note = f"{meas.source()}: {qualifier} of {meas.samples} requests"
    note += f" (window {meas.window}, {meas.kind} {meas.metric})"
    if lo != hi and not met and compare(lo_d, t.operator, target):
        note += f"; the {meas.kind} cannot show it is {goal}: unmet"
    return MetricResult(
        *ids,
        "met" if met else "unmet",
        metric_key=meas.metric,
        value=hi if math.isfinite(hi) else None,
        compared=compared,
        note=note,
        measurement=meas,
        percentile=qualifier,
        bounds=(lo, hi),
    )


def judge_endpoint(spec: AlignmentSpec, meas: Measurement) -> dict[str, MetricResult]:
    """Per slug, the endpoint's verdict for each metric :func:`endpoint_metrics` names."""
    dep = spec.deployment_requirements.real_time_latency
    fallback = (dep.qualifier if dep is not None else None) or "p99"
    return {
        m.slug: judge_one(m, meas, m.target.qualifier or fallback) for m in endpoint_metrics(spec)
    }
