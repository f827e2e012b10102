"""Renderings of a validated spec: the normalised dict, the notebook's metadata shapes, a spec
file with the user's strings, and the one-screen summary ``validate`` prints."""

from __future__ import annotations

from typing import Any

import yaml

from alignment_mlflow.spec.model import AlignmentSpec, Money, Threshold, plain, plain_dict


def _threshold_dict(t: Threshold) -> dict[str, Any]:
    return {
        "text": t.text,
        "operator": t.operator,
        "value": t.value,
        "unit": t.unit,
        "qualifier": t.qualifier,
        "label": t.label,
    }


def _money_dict(m: Money | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "text": m.text,
        "amount": m.amount,
        "currency": m.currency,
        "unit": m.unit,
        "period": m.period,
    }


def spec_to_dict(spec: AlignmentSpec) -> dict[str, Any]:
    """The normalised spec: every section, parsed values beside the original strings."""
    ctx, dep = spec.business_context, spec.deployment_requirements
    parsed_dep: dict[str, Any] = {}
    if dep.scoring_modes is not None:
        parsed_dep["scoring_modes"] = sorted(dep.scoring_modes)
    for key, sched in (("batch_frequency", dep.batch_frequency), ("retraining", dep.retraining)):
        if sched is not None:
            parsed_dep[key] = {"period": sched.period, "on_drift": sched.on_drift}
    if dep.real_time_latency is not None:
        parsed_dep["real_time_latency"] = _threshold_dict(dep.real_time_latency)
    return plain_dict(
        {
            "business_context": {
                **ctx.raw,
                "project_slug": spec.project_slug,
                "budget": _money_dict(ctx.budget),
            },
            "success_metrics": [
                {
                    "metric": m.metric,
                    "slug": m.slug,
                    "target": _threshold_dict(m.target),
                    "priority": m.priority,
                    "rationale": m.rationale,
                    "mlflow_metric": m.mlflow_metric,
                    "measured_on": m.measured_on,
                }
                for m in spec.success_metrics
            ],
            "deployment_requirements": {**dep.raw, "parsed": parsed_dep},
            "data_constraints": [
                {
                    "constraint": d.constraint,
                    "slug": d.slug,
                    "requirement": d.requirement,
                    "status": d.status,
                    "status_text": d.status_text,
                    "check": d.check,
                }
                for d in spec.data_constraints
            ],
            "interventions": [
                {
                    "tier": i.tier,
                    "slug": i.slug,
                    "rank": i.rank,
                    "risk_level": i.risk_level,
                    "band": str(i.band),
                    "min_score": i.band.min_score,
                    "max_score": i.band.max_score,
                    "min_inclusive": i.band.min_inclusive,
                    "max_inclusive": i.band.max_inclusive,
                    "intervention": i.intervention,
                    "cost": _money_dict(i.cost),
                    "expected_effectiveness": {
                        "text": i.expected_effectiveness.text,
                        "value": i.expected_effectiveness.value,
                        "label": i.expected_effectiveness.label,
                    },
                }
                for i in spec.interventions
            ],
            "spec_sha256": spec.sha256,
            "warnings": list(spec.warnings),
        }
    )


def notebook_metadata(spec: AlignmentSpec) -> dict[str, Any]:
    """The three keys the notebook writes under findings ``metadata``, in its exact shapes."""
    return plain_dict(
        {
            "business_context": dict(spec.business_context.raw),
            "success_metrics": [
                {
                    "Metric": m.metric,
                    "Target": m.target.text,
                    "Priority": m.raw.get("priority", m.priority),
                    "Rationale": m.rationale,
                }
                for m in spec.success_metrics
            ],
            "deployment_requirements": dict(spec.deployment_requirements.raw),
        }
    )


def render_spec_yaml(spec: AlignmentSpec) -> str:
    """A spec file with the user's original strings; loading it gives an equal spec."""
    ordered = sorted(spec.interventions, key=lambda i: -i.rank)  # as typically written: low first
    data = {
        "business_context": dict(spec.business_context.raw),
        "success_metrics": [dict(m.raw) for m in spec.success_metrics],
        "deployment_requirements": dict(spec.deployment_requirements.raw),
        "data_constraints": [dict(d.raw) for d in spec.data_constraints],
        "interventions": [dict(i.raw) for i in reversed(ordered)],
    }
    return yaml.safe_dump(
        plain(data), default_flow_style=False, sort_keys=False, allow_unicode=True
    )


def render_summary(spec: AlignmentSpec) -> str:
    """``validate``'s summary as one text (see :func:`render_summary_lines`)."""
    return "\n".join(render_summary_lines(spec))


def render_summary_lines(spec: AlignmentSpec) -> list[str]:
    """``validate``'s summary, one entry per line: a value holding a line break stays inside its
    line (the CLI escapes it), so a crafted name cannot add a line of its own."""
    ctx = spec.business_context
    lines = [f"{ctx.project_name} ({spec.project_slug})", f"  objective: {ctx.business_objective}"]
    if ctx.budget is not None:
        period = f" {ctx.budget.period}" if ctx.budget.period else ""
        lines.append(f"  budget: {ctx.budget.amount:,.2f} {ctx.budget.currency}{period}")
    lines.append("success metrics:")
    for m in spec.success_metrics:
        t = m.target
        value = f"{t.value:.0%}" if t.unit == "%" else f"{t.value:g}"
        extra = " ".join(x for x in (t.unit if t.unit != "%" else None, t.qualifier) if x)
        label = f"{t.label} " if t.label else ""
        source = f"  <- {m.mlflow_metric}" if m.mlflow_metric else ""
        lines.append(
            f"  {m.slug:<32} {label}{t.operator} {value}{(' ' + extra) if extra else ''}"
            f"  [{m.priority}, {m.measured_on}]{source}"
        )
    lines.append("intervention tiers (highest risk first):")
    for i in spec.interventions:
        unit = f"/{i.cost.unit}" if i.cost.unit else ""
        lines.append(
            f"  {i.rank}. {i.tier:<10} {i.band!s:<12} {i.cost.amount:g} {i.cost.currency}{unit}"
            f"  retention {i.expected_effectiveness.value:.0%}  {i.intervention}"
        )
    lines.append("data constraints:")
    if not spec.data_constraints:
        lines.append("  (none)")
    for d in spec.data_constraints:
        check = f" check={d.check}" if d.check else ""
        lines.append(f"  {d.slug:<32} {d.status}{check}  {d.requirement}")
    for w in spec.warnings:
        lines.append(f"warning: {w}")
    lines.append(f"spec sha256: {spec.sha256}")
    return lines


def source_sections(spec: AlignmentSpec) -> dict[str, Any]:
    """The five sections as the user wrote them (keys normalised): loading this dict again gives a
    spec with the same sha256, which is how an aligned findings file carries its exact spec."""
    return plain_dict(
        {
            "business_context": spec.business_context.raw,
            "success_metrics": [m.raw for m in spec.success_metrics],
            "deployment_requirements": spec.deployment_requirements.raw,
            "data_constraints": [d.raw for d in spec.data_constraints],
            "interventions": [i.raw for i in spec.interventions],
        }
    )
