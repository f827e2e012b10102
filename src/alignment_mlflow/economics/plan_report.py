"""``plan_report.html``: the plan as pictures people would rather look at than read.

Three charts as inline SVG in one self-contained page (no script, no external asset, every value
escaped), so it previews in the MLflow UI's artifact iframe like the alignment's ``report.html``:
customers per score band with the band edges, cost per tier against the budget, and the paid-
intervention share per group against the parity target. Inline SVG rather than a plotting library:
three bar charts do not justify matplotlib's weight (and its font cache) in a Databricks job, and
the page stays text that diffs and renders everywhere. Pure: no I/O.
"""

from __future__ import annotations

import html

from alignment_mlflow.bands.table import BandTable
from alignment_mlflow.economics.core import Economics
from alignment_mlflow.economics.describe import verdict_line

_W, _H, _PAD = 640, 220, 40
_CSS = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;padding:20px;max-width:760px;"
    "color:#1f2933}h1{font-size:20px;margin:0 0 6px}h2{font-size:15px;margin:22px 0 6px}"
    ".verdict{border:2px solid #52606d;border-radius:6px;padding:8px 12px;font-weight:600}"
    ".warning{border:2px solid #b42318;border-radius:6px;padding:8px 12px;color:#b42318}"
    "svg{display:block}text{font-size:11px;fill:#1f2933}"
)


def _bars(labels: list[str], values: list[float], fmt: str, line: tuple[str, float] | None) -> str:
    """A vertical bar chart; ``line`` draws a labelled horizontal reference (budget, target)."""
    e = html.escape
    top = max([*values, line[1] if line else 0.0, 1e-12])
    n = max(len(values), 1)
    step = (_W - 2 * _PAD) / n
    out = [f'<svg width="{_W}" height="{_H}" role="img" viewBox="0 0 {_W} {_H}">']
    base = _H - _PAD
    out.append(f'<line x1="{_PAD}" y1="{base}" x2="{_W - _PAD}" y2="{base}" stroke="#9aa5b1"/>')
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (base - 20) * value / top
        x = _PAD + i * step + step * 0.15
        w = step * 0.7
        out.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="#3e7cb1"><title>{e(label)}: {e(format(value, fmt))}</title></rect>'
        )
        out.append(
            f'<text x="{x + w / 2:.1f}" y="{base + 14}" text-anchor="middle">{e(label)}</text>'
        )
        out.append(
            f'<text x="{x + w / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">'
            f"{e(format(value, fmt))}</text>"
        )
    if line is not None:
        y = base - (base - 20) * line[1] / top
        out.append(
            f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - _PAD}" y2="{y:.1f}" stroke="#b42318" '
            'stroke-dasharray="6 4"/>'
        )
        out.append(f'<text x="{_W - _PAD}" y="12" text-anchor="end" fill="#b42318">'
                   f"- - {e(line[0])}</text>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def _edge(lo: float, hi: float) -> str:
    return f"{lo:g}–{hi:g}"


def plan_report_html(e: Economics, table: BandTable) -> str:
    esc = html.escape
    bands = {b.tier: b for b in table.bands}
    # Score distribution as the tally holds it: customers per band, labelled with its edges.
    ordered = sorted(e.tiers, key=lambda t: bands[t.tier].min_score if t.tier in bands else 0)
    dist = _bars(
        [
            f"{t.tier} {_edge(bands[t.tier].min_score, bands[t.tier].max_score)}"
            if t.tier in bands
            else t.tier
            for t in ordered
        ],
        [float(t.customers) for t in ordered],
        ",.0f",
        None,
    )
    budget = None
    if e.budget is not None:
        budget = (f"budget {e.budget.amount:,.0f} {e.budget.currency}", e.budget.amount)
    costs = _bars(
        [*(t.tier for t in e.tiers), "total"],
        [*(t.cost for t in e.tiers), e.total_cost],
        ",.0f",
        budget,
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Plan</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<div class="verdict" id="verdict">{esc(verdict_line(e))}</div>',
        f"<h1>Plan: {e.rows:,} customers, total cost {e.total_cost:,.2f} {esc(e.currency)}</h1>",
        *(f'<p class="warning">{esc(w)}</p>' for w in e.warnings),
        "<h2>Customers per score band (band edges on the axis)</h2>",
        dist,
        "<h2>Cost per tier against the budget</h2>",
        costs,
    ]
    target = None
    if e.parity_target is not None:
        threshold = getattr(e.parity_target.threshold, "value", None)
        if isinstance(threshold, int | float):
            floor = f"parity floor: {e.parity_target.target_text} x the highest share"
            target = (floor, float(threshold))
    for p in e.parity:
        top = max((share for *_, share in p.groups), default=0.0)
        line = (target[0], target[1] * top) if target and top else None
        parts.append(f"<h2>Paid-intervention share per {esc(p.column)} (parity target)</h2>")
        parts.append(_bars([g[0] for g in p.groups], [g[3] for g in p.groups], ".1%", line))
    parts.append("</body></html>")
    return "".join(parts)
