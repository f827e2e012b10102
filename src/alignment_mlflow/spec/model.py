"""Typed values of a validated alignment spec.

Every parsed value keeps the text the user wrote (``text``) beside what it means, because the
notebook's strings are what stakeholders agreed on and must be written back verbatim, while the
parsed values are what code checks against. All records are frozen: a validated spec is a fact.
Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


def slugify(text: str) -> str:
    """A stable id for names: ``Precision at 20%`` -> ``precision_at_20pct``.

    Slugs are MLflow param-key segments and Delta tier keys, so they keep only ``[a-z0-9_]``.
    """
    s = text.strip().lower().replace("%", "pct").replace("&", " and ")
    s = re.sub(r"(?<=\d)\s+pct", "pct", s)
    s = re.sub(r"[^a-z0-9]+", "_", s).strip("_")
    return s


def plain(value: Any) -> Any:
    """Mappings, sequences and sets as plain dicts and lists, dates and times as ISO strings: JSON
    values only, because whatever we write into findings must survive the framework's own JSON
    save, and YAML and JSON dumps of specs, verdicts and metadata must never meet a tuple, a
    frozenset, a mapping proxy or a date."""
    if isinstance(value, Mapping):
        return {_plain_key(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, frozenset | set):
        return [plain(v) for v in _sorted_members(value)]
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    return value


def _plain_key(key: Any) -> str:
    return key.isoformat() if isinstance(key, datetime.date | datetime.time) else str(key)


def _sorted_members(members: frozenset[Any] | set[Any]) -> list[Any]:
    """Set members in their natural order; mixed types (``!!set {1, a}``) by type, then repr."""
    try:
        return sorted(members)
    except TypeError:
        return sorted(members, key=lambda m: (type(m).__name__, repr(m)))


def plain_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = plain(value)
    return out


Operator = Literal[">=", ">", "<=", "<", "=="]
Priority = Literal["High", "Medium", "Low"]
ConstraintStatus = Literal["to_verify", "passed", "failed", "manual"]
Period = Literal["hourly", "daily", "weekly", "monthly", "quarterly", "yearly"]
MeasuredOn = Literal["model", "serving", "business"]


@dataclass(frozen=True)
class Threshold:
    """A target such as ``>= 0.80``, ``< 100ms p99``, ``Ratio >= 0.8`` or ``20%``."""

    text: str
    operator: Operator
    value: float
    unit: str | None = None  # "ms", "s", "%" or None
    qualifier: str | None = None  # "p50", "p95", "p99", ...
    label: str | None = None  # "Ratio" in "Ratio >= 0.8"

    def is_met(self, observed: float) -> bool:
        v = self.value
        return {
            ">=": observed >= v,
            ">": observed > v,
            "<=": observed <= v,
            "<": observed < v,
            "==": observed == v,
        }[self.operator]


@dataclass(frozen=True)
class ScoreBand:
    """A churn-score interval with explicit open/closed ends, e.g. ``(0.8, 1]``."""

    min_score: float
    max_score: float
    min_inclusive: bool
    max_inclusive: bool

    def contains(self, score: float) -> bool:
        lo_ok = score >= self.min_score if self.min_inclusive else score > self.min_score
        hi_ok = score <= self.max_score if self.max_inclusive else score < self.max_score
        return lo_ok and hi_ok

    def __str__(self) -> str:
        lo = "[" if self.min_inclusive else "("
        hi = "]" if self.max_inclusive else ")"
        return f"{lo}{self.min_score:g}, {self.max_score:g}{hi}"


@dataclass(frozen=True)
class Money:
    """A cost such as ``$50/customer`` or a budget such as ``$50k ... per month``."""

    text: str
    amount: float
    currency: str  # ISO 4217, e.g. "USD"
    unit: str | None = None  # "customer"
    period: Period | None = None  # "month" budgets -> "monthly"


@dataclass(frozen=True)
class Rate:
    """A fraction in [0, 1] such as ``40% retention`` (0.40, label "retention")."""

    text: str
    value: float
    label: str | None = None


@dataclass(frozen=True)
class Schedule:
    """A cadence such as ``Daily`` or ``Monthly or on significant drift``."""

    text: str
    period: Period | None
    on_drift: bool = False


@dataclass(frozen=True)
class BusinessContext:
    project_name: str
    business_objective: str
    stakeholders: tuple[str, ...]
    timeline: str
    budget_constraints: str
    budget: Money | None  # None when the budget text could not be parsed (a warning, not an error)
    raw: dict[str, Any]  # exactly as given (normalised keys), extra keys included

    @property
    def project_slug(self) -> str:
        return slugify(self.project_name)


@dataclass(frozen=True)
class SuccessMetric:
    metric: str
    slug: str
    target: Threshold
    priority: Priority
    rationale: str
    raw: dict[str, Any]  # as given, keys normalised (metric/target/priority/rationale/...)
    # The metric key in a model run holding the value (``roc_auc``; ``latency_p99:s`` names the
    # logged unit); None: the gate looks for a key equal to the slug.
    mlflow_metric: str | None = None
    # Where the value is measured: "business" targets (judged after a campaign) are deferred by the
    # gate and never block a model.
    measured_on: MeasuredOn = "model"


@dataclass(frozen=True)
class DeploymentRequirements:
    raw: dict[str, Any]  # exactly as given (normalised keys), extra keys kept
    scoring_modes: frozenset[str] | None = None  # {"batch", "real_time"}
    batch_frequency: Schedule | None = None
    real_time_latency: Threshold | None = None
    retraining: Schedule | None = None


@dataclass(frozen=True)
class DataConstraint:
    constraint: str
    slug: str
    requirement: str
    status: ConstraintStatus
    status_text: str  # as the user wrote it ("To verify")
    check: str | None = None  # explicit `check:` key from the spec, if any
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Intervention:
    risk_level: str  # original text, "High (>0.8)"
    tier: str  # tier name, "High"
    slug: str  # "high"
    rank: int  # 1 = highest risk
    band: ScoreBand
    intervention: str
    cost: Money
    expected_effectiveness: Rate
    raw: dict[str, Any]


@dataclass(frozen=True)
class AlignmentSpec:
    """A validated alignment spec: the notebook's five sections, typed."""

    business_context: BusinessContext
    success_metrics: tuple[SuccessMetric, ...]
    deployment_requirements: DeploymentRequirements
    data_constraints: tuple[DataConstraint, ...]
    interventions: tuple[Intervention, ...]  # ordered by band, highest risk first (rank 1)
    sha256: str  # of the canonical normalised spec, so the same content hashes the same
    source: str | None = None  # file path, or None for a dict
    warnings: tuple[str, ...] = ()

    @property
    def project_slug(self) -> str:
        return self.business_context.project_slug
