"""``report.html``: the alignment as a model card for the business side.

One self-contained page (inline CSS, no script, no external asset, every value escaped), so it
previews safely in the MLflow UI's artifact iframe and side by side in the compare view, reads at
1300 px and prints. The verdict box comes first, before the title, naming the dataset: the
compare-runs page previews the report in a frame about 150 px tall, so that is all a reader sees
of each run side by side. Limitations say what was not verified and why.
Pure: no I/O.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignment_mlflow.tracking.context import RunContext

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;padding:24px;
max-width:1200px;color:#1f2933;line-height:1.45}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid
#d9e2ec;padding-bottom:4px}
p.meta{color:#52606d;margin:0 0 16px;font-size:13px}
.verdict{border-radius:6px;padding:10px 14px;margin:0 0 16px;border:2px solid}
.verdict strong{font-size:18px;letter-spacing:.04em}
.verdict .dataset{font-weight:600;margin-left:8px}.verdict small{font-size:13px}
@media (max-width:600px){body{padding:8px}.verdict{padding:6px 10px;margin-bottom:10px}}
.verdict.blocked{background:#fdecea;border-color:#b42318;color:#7a1a12}
.verdict.needs_review{background:#fff7e0;border-color:#b78103;color:#6b4b00}
.verdict.aligned{background:#e8f6ee;border-color:#0b7a3e;color:#064d27}
table{border-collapse:collapse;width:100%;font-size:13px;margin:0 0 8px}
th,td{border:1px solid #d9e2ec;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8;width:auto}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0;font-size:14px}
dt{font-weight:600;color:#52606d}dd{margin:0}
.passed{color:#0b7a3e;font-weight:600}.failed{color:#b42318;font-weight:600}
.unverifiable,.to_verify,.manual{color:#8a6100;font-weight:600}
code{font-size:12px;word-break:break-all}
@media print{body{padding:0;max-width:none}.verdict{-webkit-print-color-adjust:exact;
print-color-adjust:exact}h2{break-after:avoid}tr{break-inside:avoid}}
"""

_VERDICT = {
    "blocked": ("BLOCKED", "A data constraint failed: fix the data or the spec before modelling."),
    "needs_review": (
        "NEEDS REVIEW",
        "Nothing failed, but some constraints could not be verified automatically.",
    ),
    "aligned": ("ALIGNED", "Every data constraint was verified against the findings."),
}


def _rows(cells: list[list[str]], empty: str, span: int) -> str:
    if not cells:
        return f'<tr><td colspan="{span}">{empty}</td></tr>'
    return "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells)


def _link(label: str, url: str | None) -> str:
    """Addresses as text, not anchors: the page links to nothing, so it fetches nothing and
    behaves the same in the sandboxed artifact iframe, a mail attachment and on paper."""
    text = f"{label} ({url})" if url and url != label else label
    return f"<code>{html.escape(text)}</code>"


def report_html(ctx: RunContext) -> str:
    e = html.escape
    spec, bc = ctx.spec, ctx.spec.business_context
    word, meaning = _VERDICT[ctx.status]
    named = [f"{e(v.constraint)} ({e(v.status)})" for v in ctx.verdicts if v.status != "passed"]
    context = [
        ("Objective", bc.business_objective),
        ("Stakeholders", ", ".join(bc.stakeholders) or "not stated"),
        ("Timeline", bc.timeline or "not stated"),
        ("Budget", bc.budget_constraints or "not stated"),
    ]
    metrics = [
        [e(m.metric), e(m.target.text), e(m.priority), e(m.rationale)] for m in spec.success_metrics
    ]
    deploy = [[e(str(k)), e(str(v))] for k, v in spec.deployment_requirements.raw.items()]
    constraints = []
    limitations = []
    for d in spec.data_constraints:
        status = ctx.constraint_status(d.slug, d.status)
        reason = ctx.constraint_reason(d.slug, "")
        badge = f'<span class="{e(status)}">{e(status)}</span>'
        constraints.append([e(d.constraint), e(d.requirement), badge, e(reason)])
        if status != "passed":
            limitations.append(f"<li><strong>{e(d.constraint)}</strong>: {e(reason)}</li>")
    tiers = [
        [
            str(i.rank),
            e(i.tier),
            e(str(i.band)),
            e(i.intervention),
            e(f"{i.cost.amount:,.2f} {i.cost.currency}")
            + (f" / {e(i.cost.unit)}" if i.cost.unit else ""),
            f"{i.expected_effectiveness.value:.0%}",
        ]
        for i in spec.interventions
    ]
    meta = [
        e(ctx.aligned_at or ""),
        f"alignment-mlflow {e(ctx.package_version)}",
        f"run by {e(ctx.user)}" if ctx.user else "",
        f"spec {spec.sha256[:12]}",
    ]
    links = [f"<dt>Findings</dt><dd><code>{e(ctx.findings_location)}</code></dd>"]
    if ctx.delta_table:
        version = "" if ctx.delta_version is None else f" (version {ctx.delta_version})"
        links.append(f"<dt>Tiers table</dt><dd><code>{e(ctx.delta_table)}</code>{version}</dd>")
    if ctx.experiment:
        links.append(f"<dt>Experiment</dt><dd>{_link(ctx.experiment, ctx.experiment_url)}</dd>")
    if ctx.run_url:
        links.append(f"<dt>Run</dt><dd>{_link(ctx.run_url, ctx.run_url)}</dd>")
    findings = ctx.findings
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(bc.project_name)}: business alignment</title>
<style>{_CSS}</style></head>
<body>
<div class="verdict {ctx.status}" id="verdict"><strong>{word}</strong>
<span class="dataset">{e(findings.dataset_name)}</span>
{("<br>" + "; ".join(named)) if named else ""}<br><small>{e(meaning)}</small></div>
<h1>{e(bc.project_name)}: business alignment</h1>
<p class="meta">{" · ".join(m for m in meta if m)}</p>
<h2>Business context</h2>
<dl>{"".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in context)}</dl>
<h2>Success metrics</h2>
<table id="metrics"><tr><th>Metric</th><th>Target</th><th>Priority</th><th>Rationale</th></tr>
{_rows(metrics, "No success metrics declared.", 4)}</table>
<h2>Deployment requirements and intended use</h2>
<p>Scores churn risk for <strong>{e(bc.project_name)}</strong> so that each customer receives
the intervention of their risk tier below. Intended for the retention campaigns this project
declares; not for decisions the spec does not name.</p>
<table id="deployment"><tr><th>Requirement</th><th>Value</th></tr>
{_rows(deploy, "No deployment requirements declared.", 2)}</table>
<h2>Data constraints</h2>
<p class="meta">Checked against {e(findings.file_name)}: {findings.row_count} rows,
{findings.column_count} columns (names, types and counts only; no values).</p>
<table id="constraints"><tr><th>Constraint</th><th>Requirement</th><th>Status</th><th>Evidence</th>
</tr>{_rows(constraints, "No data constraints declared.", 4)}</table>
<h2>Intervention tiers</h2>
<table id="tiers"><tr><th>Rank</th><th>Tier</th><th>Churn score</th><th>Intervention</th>
<th>Cost</th><th>Expected retention</th></tr>
{_rows(tiers, "No tiers declared.", 6)}</table>
<h2>Limitations</h2>
<ul id="limitations">{"".join(limitations) or "<li>None: every constraint was verified.</li>"}
<li>Checks read column names, types and the framework's flags: a column whose name gives nothing
away and that the framework did not flag is not caught.</li></ul>
<h2>Links</h2>
<dl id="links">{"".join(links)}</dl>
</body></html>
"""
