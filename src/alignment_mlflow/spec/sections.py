"""The five sections of an alignment spec, each validated into typed values.

Every validator reports into one collector instead of raising, so a user fixing a spec sees every
problem in one pass. Keys are accepted in the notebook's spelling (``Risk Level``) as well as
snake_case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alignment_mlflow.spec.keys import (
    INTERVENTION_KEYS,
    METRIC_KEYS,
    Collector,
    check_keys,
    normalise_key,
)
from alignment_mlflow.spec.model import (
    BusinessContext,
    DataConstraint,
    DeploymentRequirements,
    Intervention,
    MeasuredOn,
    Money,
    Rate,
    SuccessMetric,
    Threshold,
)
from alignment_mlflow.spec.parsing import (
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

SECTIONS = (
    "business_context",
    "success_metrics",
    "deployment_requirements",
    "data_constraints",
    "interventions",
)
CHECKS = ("pii", "protected_attributes", "historical_depth", "freshness")


def _normalise_mapping(
    raw: Mapping[Any, Any], path: str, c: Collector, aliases: Mapping[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        norm = normalise_key(key)
        norm = (aliases or {}).get(norm, norm)
        if norm in out:
            c.add(f"{path}.{norm}", f"key {key!r} repeats {norm!r} (after normalising case/spaces)")
        out[norm] = value
    return out


def _text(c: Collector, path: str, value: Any, *, required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            c.add(path, "is missing or empty", "a non-empty text")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        c.add(path, f"expected text, got {type(value).__name__}", "a text value")
        return ""
    return str(value)


def _list_of_mappings(c: Collector, name: str, value: Any, *, allow_empty: bool) -> list[Any]:
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


def business_context(raw: Any, c: Collector) -> BusinessContext | None:
    if not isinstance(raw, Mapping):
        c.add("business_context", f"expected a mapping, got {type(raw).__name__}", "key: value")
        return None
    d = _normalise_mapping(raw, "business_context", c)
    p = "business_context"
    check_keys(d, p, p, c)
    stakeholders = d.get("stakeholders", [])
    if isinstance(stakeholders, str):
        stakeholders = [stakeholders]
    if not isinstance(stakeholders, list) or not all(isinstance(s, str) for s in stakeholders):
        c.add(
            f"{p}.stakeholders", "expected a list of names", "e.g. [Marketing Team, Data Science]"
        )
        stakeholders = []
    budget_text = _text(c, f"{p}.budget_constraints", d.get("budget_constraints"), required=False)
    budget = c.parse(f"{p}.budget_constraints", budget_text, parse_budget) if budget_text else None
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


def success_metrics(raw: Any, c: Collector) -> list[SuccessMetric]:
    out: list[SuccessMetric] = []
    seen: dict[str, int] = {}
    for i, item in _list_of_mappings(c, "success_metrics", raw, allow_empty=False):
        p = f"success_metrics[{i}]"
        d = _normalise_mapping(item, p, c, METRIC_KEYS)
        check_keys(d, p, "success_metrics", c)
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
        mlflow_metric, measured_on = _gate_fields(c, p, d)
        if name and slug and target is not None and priority is not None:
            out.append(
                SuccessMetric(
                    name, slug, target, priority, rationale, d, mlflow_metric, measured_on
                )
            )
    return out


MEASURED_ON: tuple[MeasuredOn, ...] = ("model", "serving", "business")
_MLFLOW_KEY = re.compile(r"^[\w\-./ ]+(?::(?:ms|s|%))?$")


def _gate_fields(c: Collector, p: str, d: Mapping[str, Any]) -> tuple[str | None, MeasuredOn]:
    """The optional keys the success-metric gate reads: ``mlflow_metric`` (an MLflow metric key,
    optionally ``:ms``/``:s``/``%`` for the unit it was logged in) and ``measured_on``."""
    key = d.get("mlflow_metric")
    mlflow_metric: str | None = None
    if key is not None:
        if not isinstance(key, str) or not _MLFLOW_KEY.match(key.strip()):
            c.add(
                f"{p}.mlflow_metric",
                f"{key!r} is not an MLflow metric key",
                "a key such as roc_auc, optionally with its unit: latency_p99:s",
            )
        else:
            mlflow_metric = key.strip()
    where = d.get("measured_on", "model")
    measured_on: MeasuredOn = "model"
    norm = where.strip().lower() if isinstance(where, str) else None
    if norm in MEASURED_ON:
        measured_on = MEASURED_ON[MEASURED_ON.index(norm)]
    else:
        c.add(f"{p}.measured_on", f"unknown value {where!r}", "model, serving or business")
    return mlflow_metric, measured_on


def deployment(raw: Any, c: Collector) -> DeploymentRequirements | None:
    if not isinstance(raw, Mapping):
        c.add(
            "deployment_requirements",
            f"expected a mapping, got {type(raw).__name__}",
            "key: value",
        )
        return None
    d = _normalise_mapping(raw, "deployment_requirements", c)
    check_keys(d, "deployment_requirements", "deployment_requirements", c)

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


def constraints(raw: Any, c: Collector) -> list[DataConstraint]:
    out: list[DataConstraint] = []
    seen: dict[str, int] = {}
    for i, item in _list_of_mappings(c, "data_constraints", raw, allow_empty=True):
        p = f"data_constraints[{i}]"
        d = _normalise_mapping(item, p, c)
        check_keys(d, p, "data_constraints", c)
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


def interventions(raw: Any, c: Collector) -> list[Intervention]:
    entries = _list_of_mappings(c, "interventions", raw, allow_empty=False)
    levels: list[tuple[int, RiskLevel]] = []
    complete: dict[int, tuple[str, Money, Rate, dict[str, Any]]] = {}
    for i, item in entries:
        p = f"interventions[{i}]"
        d = _normalise_mapping(item, p, c, INTERVENTION_KEYS)
        check_keys(d, p, "interventions", c)
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
