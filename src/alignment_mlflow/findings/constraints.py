"""Verify the spec's data constraints against the findings, instead of writing "To verify".

The notebook lists four constraints and never checks them, although the findings already hold
the evidence: column names and types, the framework's PII flags, history spans and data dates.
Each constraint gets a verdict with its evidence (names, types, counts, spans, dates; never column
values). Pure: takes a FindingsView and a spec, returns verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from alignment_mlflow.findings.columns import pii_columns, protected_columns
from alignment_mlflow.spec.model import plain

if TYPE_CHECKING:
    from alignment_mlflow.findings.document import FindingsView
    from alignment_mlflow.spec.model import AlignmentSpec, DataConstraint

VerdictKind = Literal["passed", "failed", "unverifiable", "manual"]
DAYS_PER_MONTH = 30.4375  # 365.25 / 12: "12 months" means one calendar year of history


@dataclass(frozen=True)
class Verdict:
    constraint: str
    slug: str
    requirement: str
    check: str | None
    verdict: VerdictKind
    status: str
    declared_status: str
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "constraint": self.constraint,
            "slug": self.slug,
            "requirement": self.requirement,
            "check": self.check,
            "verdict": self.verdict,
            "status": self.status,
            "declared_status": self.declared_status,
            "reason": self.reason,
            "evidence": plain(self.evidence),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- requirement text

_UNIT_MONTHS = {"day": 1 / DAYS_PER_MONTH, "week": 7 / DAYS_PER_MONTH, "month": 1.0, "year": 12.0}


def parse_history_requirement(text: str) -> float | None:
    """``Minimum 12 months`` -> 12; ``at least 2 years`` -> 24 (months)."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*(day|week|month|year)s?\b", text, re.I)
    if not m:
        return None
    return float(m.group(1)) * _UNIT_MONTHS[m.group(2).lower()]


def parse_freshness_requirement(text: str) -> timedelta | None:
    """``within 24 hours`` -> 24 h; ``within 2 days`` -> 48 h."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*(minute|hour|day|week)s?\b", text, re.I)
    if not m:
        m2 = re.search(r"\b(hourly|daily|weekly)\b", text, re.I)
        if not m2:
            return None
        return {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(7)}[
            m2.group(1).lower()
        ]
    n, unit = float(m.group(1)), m.group(2).lower()
    return {
        "minute": timedelta(minutes=n),
        "hour": timedelta(hours=n),
        "day": timedelta(days=n),
        "week": timedelta(weeks=n),
    }[unit]


def recognise_check(constraint: DataConstraint) -> str | None:
    if constraint.check:
        return constraint.check
    for text in (constraint.constraint, constraint.requirement):
        low = text.lower()
        if re.search(r"\bpii\b|personal(ly)? identif|personal data", low):
            return "pii"
        if re.search(r"protected|sensitive attribute|fairness", low):
            return "protected_attributes"
        if re.search(r"histor|look-?back|training window", low):
            return "historical_depth"
        if re.search(r"fresh|staleness|latency of data|available within", low):
            return "freshness"
    return None


# --------------------------------------------------------------------------- checks

Outcome = tuple[VerdictKind, str, dict[str, Any], tuple[str, ...]]


def _check_pii(view: FindingsView) -> Outcome:
    cols = pii_columns(view)
    features = [c for c in cols if c["role"] == "feature"]
    notes = tuple(
        f"{c['column']} looks like PII but is the {c['role']} column, not a feature"
        for c in cols
        if c["role"] != "feature"
    )
    evidence = {"pii_columns": cols, "columns_checked": len(view.columns)}
    if features:
        names = ", ".join(c["column"] for c in features)
        return "failed", f"PII in candidate features: {names}", evidence, notes
    return "passed", f"no PII among {len(view.columns)} columns' features", evidence, notes


def _check_protected(view: FindingsView) -> Outcome:
    cols = protected_columns(view)
    features = [c for c in cols if c["role"] == "feature"]
    evidence = {"protected_columns": cols, "columns_checked": len(view.columns)}
    if features:
        names = ", ".join(f"{c['column']} ({c['attribute']})" for c in features)
        return "failed", f"protected attributes in candidate features: {names}", evidence, ()
    return "passed", "no protected attribute among the candidate features", evidence, ()


def _span(view: FindingsView) -> tuple[float, dict[str, Any]] | None:
    if view.fa_time_span_days is not None:
        return view.fa_time_span_days, {
            "source": "feature_availability.time_span_days",
            "data_start": view.fa_data_start,
            "data_end": view.fa_data_end,
        }
    if view.ts_time_span_days is not None:
        return view.ts_time_span_days, {"source": "time_series_metadata.time_span_days"}
    spans = [
        (c.date_range_days, c)
        for c in view.columns.values()
        if c.name in view.datetime_columns and c.date_range_days is not None
    ]
    if spans:
        days, col = max(spans, key=lambda s: s[0] or 0.0)
        return float(days or 0.0), {
            "source": f"columns.{col.name}.type_metrics.date_range_days",
            "data_start": col.min_date,
            "data_end": col.max_date,
        }
    return None


def _basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _linked_event_view(view: FindingsView, related: Sequence[FindingsView]) -> FindingsView | None:
    """The event-level findings whose ``aggregated_findings_path`` names this aggregated file."""
    if not view.is_aggregated:
        return None
    for other in related:
        path = other.aggregated_findings_path
        if path and _basename(path) == view.file_name:
            return other
    return None


def _window(limit: timedelta) -> str:
    hours = limit.total_seconds() / 3600
    return f"{hours:g} hours" if hours < 48 else f"{hours / 24:g} days"


def _check_history(
    view: FindingsView, requirement: str, related: Sequence[FindingsView]
) -> Outcome:
    months = parse_history_requirement(requirement)
    if months is None:
        return (
            "unverifiable",
            f"no duration found in the requirement {requirement!r} "
            "(write e.g. 'Minimum 12 months')",
            {},
            (),
        )
    found = _span(view)
    notes: tuple[str, ...] = ()
    event = _linked_event_view(view, related) if found is None else None
    if event is not None:
        found = _span(event)
        if found is not None:
            found[1]["source"] = f"{event.file_name}: {found[1]['source']}"
            notes = (f"history taken from the event-level findings {event.file_name}",)
    if found is None:
        why = "the findings have no history span (feature_availability, time_series_metadata or "
        why += "datetime columns)"
        if view.is_aggregated:
            why += "; this is an aggregated file and no event-level findings beside it link to it"
        return "unverifiable", why, {"required_months": months}, ()
    days, evidence = found
    required_days = months * DAYS_PER_MONTH
    evidence = {**evidence, "span_days": days, "required_days": round(required_days, 2)}
    have = days / DAYS_PER_MONTH
    if days >= required_days:
        return (
            "passed",
            f"{days:g} days of history (≈{have:.1f} months) ≥ {months:g} months",
            evidence,
            notes,
        )
    return (
        "failed",
        f"only {days:g} days of history (≈{have:.1f} months) < {months:g} months required",
        evidence,
        notes,
    )


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        d = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _check_freshness(
    view: FindingsView,
    requirement: str,
    now: datetime,
    related: Sequence[FindingsView],
    reference: datetime | None = None,
) -> Outcome:
    limit = parse_freshness_requirement(requirement)
    if limit is None:
        return (
            "unverifiable",
            f"no time window found in the requirement {requirement!r} "
            "(write e.g. 'within 24 hours')",
            {},
            (),
        )
    event = _linked_event_view(view, related)
    if _parse_date(view.fa_data_end) is None and not view.datetime_columns and event is not None:
        view = event  # an aggregated file's dates live in its event-level findings
    end, source = _parse_date(view.fa_data_end), "feature_availability.data_end"
    if event is not None and view is event:
        source = f"{event.file_name}: {source}"
    if end is None:
        dated = [
            (d, c.name)
            for c in view.columns.values()
            if c.name in view.datetime_columns and (d := _parse_date(c.max_date)) is not None
        ]
        if dated:
            end, col = max(dated)
            source = f"columns.{col}.type_metrics.max_date"
    if end is None:
        return (
            "unverifiable",
            "the findings have no data end date (feature_availability.data_end or datetime "
            "columns' max_date), so freshness cannot be measured from them",
            {"window_hours": limit.total_seconds() / 3600},
            (),
        )
    at = reference or now
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    lag = at - end
    evidence: dict[str, Any] = {
        "data_end": end.isoformat(),
        "source": source,
        "checked_at": at.isoformat(),
        "lag_hours": round(lag.total_seconds() / 3600, 1),
        "window_hours": limit.total_seconds() / 3600,
    }
    if reference is not None:
        evidence["reference"] = "--freshness-reference"
    if lag <= limit:
        return "passed", f"data ends within {_window(limit)} of the check", evidence, ()
    if reference is None:
        # An extract's age says when it was taken, not how fresh the pipeline is: not a failure.
        return (
            "unverifiable",
            f"historical extract: the newest data ({end.date()}) is {lag.days} days before this "
            f"run, so freshness within {_window(limit)} cannot be measured from it; pass "
            "--freshness-reference DATE (the date the extract represents) to enforce it, or "
            "verify it on the live pipeline",
            evidence,
            (),
        )
    return (
        "failed",
        f"the newest data ({end.date()}) is {lag.days} days before the reference date "
        f"{at.date()}, beyond {_window(limit)}",
        evidence,
        (),
    )


def verify_constraints(
    spec: AlignmentSpec,
    findings: FindingsView,
    *,
    now: datetime,
    related: Sequence[FindingsView] = (),
    freshness_reference: datetime | None = None,
) -> tuple[Verdict, ...]:
    """Each constraint's verdict. ``freshness_reference`` is the date a historical extract
    represents: without it, an extract older than the freshness window is unverifiable, not
    failed; with it, freshness is measured against that date and can fail."""
    out = []
    for c in spec.data_constraints:
        check = recognise_check(c)
        outcome: Outcome
        if check == "pii":
            outcome = _check_pii(findings)
        elif check == "protected_attributes":
            outcome = _check_protected(findings)
        elif check == "historical_depth":
            outcome = _check_history(findings, c.requirement, related)
        elif check == "freshness":
            outcome = _check_freshness(findings, c.requirement, now, related, freshness_reference)
        else:
            outcome = (
                "manual",
                "no automatic check recognises this constraint; verify by hand",
                {},
                (),
            )
        verdict, reason, evidence, notes = outcome
        status: str = verdict
        if c.status in ("passed", "failed", "manual"):
            status = c.status
            if c.status != verdict:
                notes = (*notes, f"declared {c.status} by hand; the automatic check says {verdict}")
        out.append(
            Verdict(
                c.constraint,
                c.slug,
                c.requirement,
                check,
                verdict,
                status,
                c.status,
                reason,
                evidence,
                notes,
            )
        )
    return tuple(out)


def summarise(verdicts: Sequence[Verdict]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "unverifiable": 0, "manual": 0}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    return counts


def any_failed(verdicts: Sequence[Verdict]) -> bool:
    return any(v.status == "failed" for v in verdicts)


AlignmentStatus = Literal["blocked", "needs_review", "aligned"]


def alignment_status(statuses: Sequence[str]) -> AlignmentStatus:
    """The run's verdict at a glance: ``blocked`` when a constraint failed, ``needs_review`` when
    one could not be verified automatically (unverifiable, manual, still to verify), else
    ``aligned``. Takes statuses so verdict objects and stored dicts judge the same."""
    if "failed" in statuses:
        return "blocked"
    if any(s != "passed" for s in statuses):
        return "needs_review"
    return "aligned"
