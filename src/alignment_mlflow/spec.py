"""Load and validate an alignment spec: the notebook's five sections as typed, checked facts.

A spec arrives as a YAML/JSON file or as a dict pasted from the notebook, so keys are accepted in
the notebook's spelling (``Risk Level``) as well as snake_case. Validation collects every problem
before raising, because fixing a spec one error per run is miserable. Pure: reading the file is
the only I/O, and callers holding bytes from elsewhere use :func:`spec_from_text`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from alignment_mlflow.errors import Problem, SpecError
from alignment_mlflow.model import (
    AlignmentSpec,
    BusinessContext,
    DataConstraint,
    DeploymentRequirements,
    Intervention,
    Money,
    Rate,
    SuccessMetric,
    Threshold,
    plain,
    plain_dict,
)
from alignment_mlflow.parsing import (
    RiskLevel,
    parse_budget,
    parse_money,
    parse_priority,
    parse_rate,
    parse_risk_level,
    parse_schedule,
    parse_scoring_modes,
    parse_status,
    parse_threshold,
    partition_bands,
    slugify,
)
from alignment_mlflow.yamlio import YamlLoadError, load_yaml

SECTIONS = (
    "business_context",
    "success_metrics",
    "deployment_requirements",
    "data_constraints",
    "interventions",
)
CHECKS = ("pii", "protected_attributes", "historical_depth", "freshness")
MAX_SPEC_BYTES = 1_048_576

T = TypeVar("T")


def normalise_key(key: object) -> str:
    """``Risk Level`` / ``risk-level`` / ``RISK_LEVEL`` -> ``risk_level``."""
    return "_".join(str(key).strip().lower().replace("-", " ").split())


class _Collector:
    def __init__(self, source: str | None, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, expected: str = "") -> None:
        line = self.lines.get(path)
        if line is None and "." in path:  # normalised key paths may differ from the raw ones
            line = self.lines.get(path.rsplit(".", 1)[0])
        self.problems.append(Problem(path, message, expected, self.source, line))

    def parse(self, path: str, value: Any, parser: Callable[[str], T]) -> T | None:
        if not isinstance(value, str):
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            else:
                self.add(path, f"expected text, got {type(value).__name__} {value!r}")
                return None
        try:
            return parser(value)
        except ValueError as exc:
            self.add(path, str(exc))
            return None


def _normalise_mapping(
    raw: Mapping[Any, Any], path: str, c: _Collector, aliases: Mapping[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        norm = normalise_key(key)
        norm = (aliases or {}).get(norm, norm)
        if norm in out:
            c.add(f"{path}.{norm}", f"key {key!r} repeats {norm!r} (after normalising case/spaces)")
        out[norm] = value
    return out


def _text(c: _Collector, path: str, value: Any, *, required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            c.add(path, "is missing or empty", "a non-empty text")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        c.add(path, f"expected text, got {type(value).__name__}", "a text value")
        return ""
    return str(value)


def _list_of_mappings(c: _Collector, name: str, value: Any, *, allow_empty: bool) -> list[Any]:
    if value is None and allow_empty:
        return []
    if not isinstance(value, list):
        c.add(name, f"expected a list of entries, got {type(value).__name__}", "a YAML list")
        return []
    if not value and not allow_empty:
        c.add(name, "is empty", "at least one entry")
    good = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            good.append((i, item))
        else:
            c.add(f"{name}[{i}]", f"expected a mapping, got {type(item).__name__}", "key: value")
    return good


def _business_context(raw: Any, c: _Collector) -> BusinessContext | None:
    if not isinstance(raw, Mapping):
        c.add("business_context", f"expected a mapping, got {type(raw).__name__}", "key: value")
        return None
    d = _normalise_mapping(raw, "business_context", c)
    p = "business_context"
    stakeholders = d.get("stakeholders", [])
    if isinstance(stakeholders, str):
        stakeholders = [stakeholders]
    if not isinstance(stakeholders, list) or not all(isinstance(s, str) for s in stakeholders):
        c.add(
            f"{p}.stakeholders", "expected a list of names", "e.g. [Marketing Team, Data Science]"
        )
        stakeholders = []
    budget_text = _text(c, f"{p}.budget_constraints", d.get("budget_constraints"), required=False)
    budget = parse_budget(budget_text) if budget_text else None
    ctx = BusinessContext(
        project_name=_text(c, f"{p}.project_name", d.get("project_name")),
        business_objective=_text(c, f"{p}.business_objective", d.get("business_objective")),
        stakeholders=tuple(stakeholders),
        timeline=_text(c, f"{p}.timeline", d.get("timeline"), required=False),
        budget_constraints=budget_text,
        budget=budget,
        raw=d,
    )
    if ctx.project_name and not slugify(ctx.project_name):
        c.add(f"{p}.project_name", "must contain a letter or digit", "e.g. Customer Churn")
    return ctx


_METRIC_KEYS = {"name": "metric", "goal": "target"}


def _success_metrics(raw: Any, c: _Collector) -> list[SuccessMetric]:
    out: list[SuccessMetric] = []
    seen: dict[str, int] = {}
    for i, item in _list_of_mappings(c, "success_metrics", raw, allow_empty=False):
        p = f"success_metrics[{i}]"
        d = _normalise_mapping(item, p, c, _METRIC_KEYS)
        name = _text(c, f"{p}.metric", d.get("metric"))
        target = c.parse(f"{p}.target", d.get("target"), parse_threshold)
        if d.get("target") is None:
            c.add(f"{p}.target", "is missing", "a target like '>= 0.80'")
        priority = c.parse(f"{p}.priority", d.get("priority", "Medium"), parse_priority)
        rationale = _text(c, f"{p}.rationale", d.get("rationale"), required=False)
        slug = slugify(name) if name else ""
        if name and not slug:
            c.add(f"{p}.metric", f"name {name!r} has no letters or digits", "e.g. Model AUC")
        if slug in seen:
            c.add(
                f"{p}.metric",
                f"duplicate metric {name!r}: same id {slug!r} as success_metrics[{seen[slug]}]",
                "unique metric names",
            )
        elif slug:
            seen[slug] = i
        if name and slug and target is not None and priority is not None:
            out.append(SuccessMetric(name, slug, target, priority, rationale, d))
    return out


def _deployment(raw: Any, c: _Collector) -> DeploymentRequirements | None:
    if not isinstance(raw, Mapping):
        c.add(
            "deployment_requirements",
            f"expected a mapping, got {type(raw).__name__}",
            "key: value",
        )
        return None
    d = _normalise_mapping(raw, "deployment_requirements", c)

    def text(key: str) -> str | None:
        v = d.get(key)
        return str(v) if isinstance(v, str | int | float) and not isinstance(v, bool) else None

    latency: Threshold | None = None
    if text("real_time_latency"):
        try:
            latency = parse_threshold(str(text("real_time_latency")))
        except ValueError:
            latency = None  # free text stays text
    modes = text("scoring_mode")
    freq = text("batch_frequency")
    retrain = text("retraining")
    return DeploymentRequirements(
        raw=d,
        scoring_modes=parse_scoring_modes(modes) if modes else None,
        batch_frequency=parse_schedule(freq) if freq else None,
        real_time_latency=latency,
        retraining=parse_schedule(retrain) if retrain else None,
    )


def _constraints(raw: Any, c: _Collector) -> list[DataConstraint]:
    out: list[DataConstraint] = []
    seen: dict[str, int] = {}
    for i, item in _list_of_mappings(c, "data_constraints", raw, allow_empty=True):
        p = f"data_constraints[{i}]"
        d = _normalise_mapping(item, p, c)
        name = _text(c, f"{p}.constraint", d.get("constraint"))
        requirement = _text(c, f"{p}.requirement", d.get("requirement"))
        status_text = d.get("status", "To verify")
        status = c.parse(f"{p}.status", status_text, parse_status)
        check = d.get("check")
        if check is not None and (not isinstance(check, str) or slugify(check) not in CHECKS):
            c.add(f"{p}.check", f"unknown check {check!r}", f"one of {', '.join(CHECKS)}")
            check = None
        slug = slugify(name) if name else ""
        if slug in seen:
            c.add(f"{p}.constraint", f"duplicate constraint {name!r}", "unique constraint names")
        elif slug:
            seen[slug] = i
        if name and slug and status is not None:
            out.append(
                DataConstraint(
                    name,
                    slug,
                    requirement,
                    status,
                    str(status_text),
                    slugify(check) if check else None,
                    d,
                )
            )
    return out


_INTERVENTION_KEYS = {
    "risk": "risk_level",
    "tier": "risk_level",
    "cost_per_customer": "cost",
    "effectiveness": "expected_effectiveness",
    "expected_retention": "expected_effectiveness",
}


def _interventions(raw: Any, c: _Collector) -> list[Intervention]:
    entries = _list_of_mappings(c, "interventions", raw, allow_empty=False)
    levels: list[tuple[int, RiskLevel]] = []
    complete: dict[int, tuple[str, Money, Rate, dict[str, Any]]] = {}
    for i, item in entries:
        p = f"interventions[{i}]"
        d = _normalise_mapping(item, p, c, _INTERVENTION_KEYS)
        for key, example in (
            ("risk_level", "'High (>0.8)'"),
            ("cost", "'$50/customer'"),
            ("expected_effectiveness", "'40% retention'"),
        ):
            if d.get(key) is None:
                c.add(f"{p}.{key}", "is missing", f"e.g. {example}")
        level = c.parse(f"{p}.risk_level", d.get("risk_level"), parse_risk_level)
        action = _text(c, f"{p}.intervention", d.get("intervention"))
        cost = c.parse(f"{p}.cost", d.get("cost"), parse_money) if "cost" in d else None
        rate = (
            c.parse(f"{p}.expected_effectiveness", d.get("expected_effectiveness"), parse_rate)
            if "expected_effectiveness" in d
            else None
        )
        if level is not None:
            levels.append((i, level))
        if level and action and cost and rate:
            complete[i] = (action, cost, rate, d)
    if not levels or len(levels) != len(raw if isinstance(raw, list) else []):
        return []  # bands can only be checked when every risk level was readable
    tiers: dict[str, int] = {}
    for i, level in levels:
        key = slugify(level.tier)
        if key in tiers:
            c.add(
                f"interventions[{i}].risk_level",
                f"duplicate tier {level.tier!r} (also interventions[{tiers[key]}])",
                "one entry per tier",
            )
        tiers[key] = i
    ordered, problems = partition_bands([lv for _, lv in levels])
    for problem in problems:
        c.add(
            "interventions",
            f"risk levels must cover scores 0 to 1 exactly once: {problem}",
            "bands like 'High (>0.8)', 'Medium (0.5-0.8)', 'Low (<0.5)'",
        )
    if problems or len(tiers) != len(levels) or len(complete) != len(levels):
        return []
    index = {lv.tier: i for i, lv in levels}
    out = []
    for rank, level in enumerate(ordered, start=1):
        action, cost, rate, d = complete[index[level.tier]]
        out.append(
            Intervention(
                risk_level=str(d.get("risk_level")),
                tier=level.tier,
                slug=slugify(level.tier),
                rank=rank,
                band=level.band,
                intervention=action,
                cost=cost,
                expected_effectiveness=rate,
                raw=d,
            )
        )
    return out


def _canonical_sha256(sections: Mapping[str, Any]) -> str:
    blob = json.dumps(sections, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def build_spec(
    data: Any, *, source: str | None = None, lines: Mapping[str, int] | None = None
) -> AlignmentSpec:
    """Validate already-loaded spec data; raise one :class:`SpecError` with every problem."""
    c = _Collector(source, lines or {})
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else type(data).__name__
        c.add("", f"a spec must be a mapping of the five sections, got {kind}", ", ".join(SECTIONS))
        raise SpecError(c.problems, source)
    top: dict[str, Any] = {}
    for key, value in data.items():
        norm = normalise_key(key)
        if norm not in SECTIONS:
            close = difflib.get_close_matches(norm, SECTIONS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            c.add(str(key), f"unknown section {key!r}; {hint}valid sections: {', '.join(SECTIONS)}")
            continue
        top[norm] = value
    for name in SECTIONS:
        if name not in top:
            c.add(name, f"section {name!r} is missing", f"all of {', '.join(SECTIONS)}")
    ctx = _business_context(top.get("business_context"), c) if "business_context" in top else None
    metrics = _success_metrics(top.get("success_metrics"), c) if "success_metrics" in top else []
    deploy = (
        _deployment(top.get("deployment_requirements"), c)
        if "deployment_requirements" in top
        else None
    )
    constraints = _constraints(top.get("data_constraints"), c) if "data_constraints" in top else []
    tiers = _interventions(top.get("interventions"), c) if "interventions" in top else []
    if c.problems or ctx is None or deploy is None:
        raise SpecError(c.problems, source)
    warnings = []
    if ctx.budget_constraints and ctx.budget is None:
        warnings.append(
            f"business_context.budget_constraints {ctx.budget_constraints!r}: no amount found; "
            "kept as text"
        )
    canonical = {
        "business_context": ctx.raw,
        "success_metrics": [m.raw for m in metrics],
        "deployment_requirements": deploy.raw,
        "data_constraints": [d.raw for d in constraints],
        "interventions": [i.raw for i in tiers],
    }
    return AlignmentSpec(
        business_context=ctx,
        success_metrics=tuple(metrics),
        deployment_requirements=deploy,
        data_constraints=tuple(constraints),
        interventions=tuple(tiers),
        sha256=_canonical_sha256(canonical),
        source=source,
        warnings=tuple(warnings),
    )


def spec_from_text(text: str | bytes, source: str | None = None) -> AlignmentSpec:
    try:
        loaded = load_yaml(text, source=source, max_bytes=MAX_SPEC_BYTES)
    except YamlLoadError as exc:
        raise SpecError(
            [Problem("", exc.message, "a UTF-8 YAML or JSON mapping", source, exc.line)], source
        ) from exc
    return build_spec(loaded.data, source=source, lines=loaded.lines)


def load_spec(source: str | os.PathLike[str] | Mapping[str, Any]) -> AlignmentSpec:
    """A spec from a ``.yaml``/``.yml``/``.json`` file, or from a dict written in a notebook."""
    if isinstance(source, Mapping):
        return build_spec(source)
    path = Path(source)
    where = str(source)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise SpecError([Problem("", "is a folder", "a spec file (.yaml)", where)], where)
        if size > MAX_SPEC_BYTES:
            raise SpecError(
                [
                    Problem(
                        "", f"file is {size:,} bytes, over the {MAX_SPEC_BYTES:,} limit", "", where
                    )
                ],
                where,
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            [Problem("", "file not found", "an existing spec file (alignment-mlflow init)", where)],
            where,
        ) from None
    except PermissionError:
        raise SpecError(
            [Problem("", "permission denied reading the file", "a readable file", where)], where
        ) from None
    return spec_from_text(data, source=where)


# --------------------------------------------------------------------------- renderings


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
        lines.append(
            f"  {m.slug:<32} {label}{t.operator} {value}{(' ' + extra) if extra else ''}"
            f"  [{m.priority}]"
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
    return "\n".join(lines)
