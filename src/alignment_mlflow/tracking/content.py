"""What an engineer reads in the MLflow UI: params, tags, the run description and report.html.

Declared facts (the spec) become immutable params; things that can change after the run
(statuses, links) become tags. Values longer than MLflow accepts are cut here with a visible
marker, never silently by the server; the full text is always in ``alignment/spec.yaml``. Only
names, types, counts and dates from the findings appear, never column values. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignment_mlflow.findings.document import FindingsView
    from alignment_mlflow.spec.model import AlignmentSpec

MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250
TRUNCATION_MARKER = "…[truncated; full text in alignment/spec.yaml]"
_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-. :/]")

Verdicts = Sequence[Mapping[str, Any]]


def truncate(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else _text(value)
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


def _key(*parts: str) -> str:
    return _KEY_BAD.sub("_", ".".join(parts))[:MAX_KEY]


def _status_by_slug(spec: AlignmentSpec, verdicts: Verdicts) -> dict[str, str]:
    out: dict[str, str] = {d.slug: d.status for d in spec.data_constraints}
    out.update({str(v["slug"]): str(v["status"]) for v in verdicts})
    return out


def flatten_params(spec: AlignmentSpec, verdicts: Verdicts = ()) -> dict[str, str]:
    params: dict[str, Any] = {}
    for k, v in spec.business_context.raw.items():
        params[_key("business_context", k)] = v
    for m in spec.success_metrics:
        t = m.target
        params[_key("success_metrics", m.slug, "target")] = t.text
        params[_key("success_metrics", m.slug, "priority")] = m.priority
        params[_key("success_metrics", m.slug, "operator")] = t.operator
        params[_key("success_metrics", m.slug, "threshold")] = t.value
        params[_key("success_metrics", m.slug, "unit")] = t.unit
    for k, v in spec.deployment_requirements.raw.items():
        params[_key("deployment_requirements", k)] = v
    for i in spec.interventions:
        base = ("interventions", i.slug)
        params[_key(*base, "band")] = str(i.band)
        params[_key(*base, "min_score")] = i.band.min_score
        params[_key(*base, "max_score")] = i.band.max_score
        params[_key(*base, "intervention")] = i.intervention
        params[_key(*base, "cost_per_customer")] = i.cost.amount
        params[_key(*base, "currency")] = i.cost.currency
        params[_key(*base, "expected_retention_rate")] = i.expected_effectiveness.value
    statuses = _status_by_slug(spec, verdicts)
    for d in spec.data_constraints:
        params[_key("data_constraints", d.slug, "requirement")] = d.requirement
        params[_key("data_constraints", d.slug, "status")] = statuses.get(d.slug, d.status)
    return {k: truncate(v, MAX_PARAM_VALUE) for k, v in params.items()}


def fingerprint(spec_sha256: str, findings_sha256: str, package_version: str) -> str:
    """Identifies one alignment: the same spec on the same findings content."""
    blob = f"{spec_sha256}:{findings_sha256}:{package_version}".encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def run_name(findings: FindingsView) -> str:
    return f"business-alignment-{findings.dataset_name}"


def _counts(verdicts: Verdicts) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in verdicts:
        out[str(v["status"])] = out.get(str(v["status"]), 0) + 1
    return out


def run_tags(
    spec: AlignmentSpec,
    *,
    findings: FindingsView,
    findings_location: str,
    findings_sha256: str,
    fingerprint: str,
    package_version: str,
    verdicts: Verdicts = (),
) -> dict[str, str]:
    counts = _counts(verdicts)
    tags = {
        "alignment.project": spec.project_slug,
        "alignment.dataset": findings.dataset_name,
        "alignment.findings_path": findings_location,
        "alignment.findings_sha256": findings_sha256,
        "alignment.spec_sha256": spec.sha256,
        "alignment.package_version": package_version,
        "alignment.fingerprint": fingerprint,
        "alignment.constraints_failed": str(counts.get("failed", 0)),
        "alignment.constraints_unverifiable": str(counts.get("unverifiable", 0)),
        "mlflow.note.content": run_description(spec, findings, verdicts),
    }
    return {k: truncate(v, MAX_TAG_VALUE) for k, v in tags.items()}


def _md(text: Any) -> str:
    return _text(text).replace("|", "\\|").replace("\n", " ")


def _money(amount: float, currency: str, unit: str | None = None) -> str:
    return f"{amount:,.2f} {currency}" + (f"/{unit}" if unit else "")


def run_description(spec: AlignmentSpec, findings: FindingsView, verdicts: Verdicts) -> str:
    ctx = spec.business_context
    lines = [
        f"## {_md(ctx.project_name)}: business alignment",
        "",
        f"**Objective:** {_md(ctx.business_objective)}  ",
        f"**Budget:** {_md(ctx.budget_constraints or 'not stated')}  ",
        f"**Timeline:** {_md(ctx.timeline or 'not stated')}  ",
        f"**Findings:** `{findings.file_name}` ({findings.row_count} rows, "
        f"{findings.column_count} columns)",
        "",
        "### Success metrics",
        "| metric | target | priority |",
        "|---|---|---|",
    ]
    lines += [
        f"| {_md(m.metric)} | {_md(m.target.text)} | {m.priority} |" for m in spec.success_metrics
    ]
    lines += [
        "",
        "### Intervention tiers",
        "| tier | band | intervention | cost | expected retention |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_md(i.tier)} | {i.band} | {_md(i.intervention)} | "
        f"{_money(i.cost.amount, i.cost.currency, i.cost.unit)} | "
        f"{i.expected_effectiveness.value:.0%} |"
        for i in spec.interventions
    ]
    lines += ["", "### Data constraints", "| constraint | status | why |", "|---|---|---|"]
    by_slug = {str(v["slug"]): v for v in verdicts}
    for d in spec.data_constraints:
        v = by_slug.get(d.slug, {})
        lines.append(
            f"| {_md(d.constraint)} | **{_md(v.get('status', d.status))}** | "
            f"{_md(v.get('reason', d.requirement))} |"
        )
    if not spec.data_constraints:
        lines.append("| (none) | | |")
    return "\n".join(lines)


def tables(spec: AlignmentSpec, verdicts: Verdicts) -> dict[str, dict[str, Any]]:
    """The three MLflow tables, in pandas' ``orient="split"`` shape that MLflow's UI reads."""
    by_slug = {str(v["slug"]): v for v in verdicts}
    return {
        "success_metrics": {
            "columns": [
                "metric",
                "target",
                "operator",
                "threshold",
                "unit",
                "priority",
                "rationale",
            ],
            "data": [
                [
                    m.metric,
                    m.target.text,
                    m.target.operator,
                    m.target.value,
                    m.target.unit,
                    m.priority,
                    m.rationale,
                ]
                for m in spec.success_metrics
            ],
        },
        "interventions": {
            "columns": [
                "rank",
                "tier",
                "risk_level",
                "band",
                "intervention",
                "cost_per_customer",
                "currency",
                "expected_retention_rate",
            ],
            "data": [
                [
                    i.rank,
                    i.tier,
                    i.risk_level,
                    str(i.band),
                    i.intervention,
                    i.cost.amount,
                    i.cost.currency,
                    i.expected_effectiveness.value,
                ]
                for i in spec.interventions
            ],
        },
        "data_constraints": {
            "columns": [
                "constraint",
                "requirement",
                "declared_status",
                "status",
                "check",
                "reason",
                "evidence",
            ],
            "data": [
                [
                    d.constraint,
                    d.requirement,
                    d.status,
                    str(by_slug.get(d.slug, {}).get("status", d.status)),
                    by_slug.get(d.slug, {}).get("check") or d.check,
                    str(by_slug.get(d.slug, {}).get("reason", "")),
                    _text(by_slug.get(d.slug, {}).get("evidence", {})),
                ]
                for d in spec.data_constraints
            ],
        },
    }


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2933}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
p.meta{color:#52606d;margin:0 0 12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #d9e2ec;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8}
.passed{color:#0b7a3e;font-weight:600}.failed{color:#b42318;font-weight:600}
.unverifiable,.to_verify,.manual{color:#8a6100;font-weight:600}
"""


def report_html(
    spec: AlignmentSpec,
    findings: FindingsView,
    verdicts: Verdicts,
    *,
    run_id: str | None = None,
) -> str:
    """One self-contained page: inline CSS, no script, no external assets."""
    e = html.escape
    ctx = spec.business_context
    by_slug = {str(v["slug"]): v for v in verdicts}
    metric_rows = "".join(
        f"<tr><td>{e(m.metric)}</td><td>{e(m.target.text)}</td><td>{e(m.priority)}</td>"
        f"<td>{e(m.rationale)}</td></tr>"
        for m in spec.success_metrics
    )
    tier_rows = "".join(
        f"<tr><td>{i.rank}</td><td>{e(i.tier)}</td><td>{e(str(i.band))}</td>"
        f"<td>{e(i.intervention)}</td>"
        f"<td>{e(_money(i.cost.amount, i.cost.currency, i.cost.unit))}</td>"
        f"<td>{i.expected_effectiveness.value:.0%}</td></tr>"
        for i in spec.interventions
    )
    constraint_rows = (
        "".join(
            f"<tr><td>{e(d.constraint)}</td><td>{e(d.requirement)}</td>"
            f'<td class="{e(str(by_slug.get(d.slug, {}).get("status", d.status)))}">'
            f"{e(str(by_slug.get(d.slug, {}).get('status', d.status)))}</td>"
            f"<td>{e(str(by_slug.get(d.slug, {}).get('reason', '')))}</td></tr>"
            for d in spec.data_constraints
        )
        or '<tr><td colspan="4">No data constraints declared.</td></tr>'
    )
    run = f" · run {e(run_id)}" if run_id else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(ctx.project_name)}: business alignment</title>
<style>{_CSS}</style></head>
<body>
<h1>{e(ctx.project_name)}: business alignment</h1>
<p class="meta">{e(findings.file_name)} · {findings.row_count} rows ·
spec {spec.sha256[:12]}{run}</p>
<p><strong>Objective:</strong> {e(ctx.business_objective)}<br>
<strong>Budget:</strong> {e(ctx.budget_constraints or "not stated")}<br>
<strong>Timeline:</strong> {e(ctx.timeline or "not stated")}<br>
<strong>Stakeholders:</strong> {e(", ".join(ctx.stakeholders) or "not stated")}</p>
<h2>Success metrics</h2>
<table id="metrics"><tr><th>Metric</th><th>Target</th><th>Priority</th><th>Rationale</th></tr>
{metric_rows}</table>
<h2>Intervention tiers</h2>
<table id="tiers"><tr><th>Rank</th><th>Tier</th><th>Score band</th><th>Intervention</th>
<th>Cost</th><th>Expected retention</th></tr>
{tier_rows}</table>
<h2>Data constraints</h2>
<table id="constraints"><tr><th>Constraint</th><th>Requirement</th><th>Status</th><th>Why</th></tr>
{constraint_rows}</table>
</body></html>
"""
