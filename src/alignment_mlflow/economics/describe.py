"""The plan run read like the alignment run: the verdict first (within budget? parity met? which
tier is cut?), then the tier table and the link back to the alignment. Markdown for the run's
description, HTML for a notebook (``PlanResult._repr_html_``). Pure: no I/O."""

from __future__ import annotations

import html

from alignment_mlflow.economics.core import Economics
from alignment_mlflow.tracking.description import md

_FIT = {True: "within budget", False: "OVER BUDGET", None: "budget not judged"}
_PARITY = {True: "parity met", False: "PARITY NOT MET", None: "parity not judged"}


def verdict_line(e: Economics) -> str:
    """One line: budget, parity, and the tier that is cut when the plan is over budget."""
    parts = [_FIT[e.within_budget]]
    if e.budget_utilisation is not None:
        parts[0] += f" ({e.budget_utilisation:.0%} of {e.budget.text if e.budget else 'budget'})"
    parts.append(_PARITY[e.parity_met])
    if e.allocation is not None:
        a = e.allocation
        parts.append(f"cut: {a.partial_tier} partly" if a.partial_tier else "cut: lower tiers")
    if e.holdout is not None:
        n = len(e.warnings)
        parts.append(
            f"holdout {e.holdout.mode}"
            + (f": {n} claim{'s' if n > 1 else ''} not detectable" if n else "")
        )
    return " · ".join(parts)


def holdout_lines(e: Economics) -> list[str]:
    """The holdout in words: the campaign, who is held out, and what cannot be detected."""
    h = e.holdout
    if h is None:
        return []
    held = sum(t.holdout for t in e.tiers)
    return [
        f"Holdout for campaign {md(h.campaign)} ({h.mode}): {held:,} customers "
        "get no action (the control group); cost, budget and expected saves count the treated.",
        *(f"- **{md(w)}**" for w in e.warnings),
    ]


def plan_description(
    e: Economics, *, scores: str, alignment_label: str | None, alignment_url: str | None
) -> str:
    lines = [
        f"**PLAN**: {md(verdict_line(e))}",
        "",
        f"{e.rows:,} customers scored from `{scores.replace('`', '')}`; total cost "
        f"{e.total_cost:,.2f} {md(e.currency)}, expected saves {e.expected_saves:,.1f}",
        "",
        *(line for x in holdout_lines(e) for line in (x, "")),
        "| Tier&emsp; | Customers&emsp; | Share&emsp; | Cost&emsp; | Expected saves |",
        "|:---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {md(t.tier)}&emsp; | {t.customers:,}&emsp; | {t.share:.1%}&emsp; | "
        f"{t.cost:,.2f}&emsp; | {t.expected_saves:,.1f} |"
        for t in e.tiers
    ]
    lines += ["", "### Links", ""]
    if alignment_label and alignment_url:
        safe = alignment_url.replace(" ", "%20").replace(")", "%29")
        lines.append(f"- Alignment: [{md(alignment_label)}]({safe})")
    else:
        lines.append("- Alignment: none (planned from a spec file, not aligned findings)")
    lines.append("- Tables: `plan/` (Artifacts)")
    return "\n".join(lines)


def plan_html(e: Economics, run_url: str | None) -> str:
    """A notebook's view: the verdict, the tier table, the link to the run."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(t.tier)}</td><td>{t.customers:,}</td><td>{t.share:.1%}</td>"
        f"<td>{t.cost:,.2f}</td><td>{t.expected_saves:,.1f}</td></tr>"
        for t in e.tiers
    )
    link = ""
    if run_url and run_url.startswith(("http://", "https://")):
        link = f' · <a href="{esc(run_url)}">open the run</a>'
    return (
        f"<p><b>Plan: {esc(verdict_line(e))}</b>{link}</p>"
        f"<p>{e.rows:,} customers; total cost {e.total_cost:,.2f} {esc(e.currency)}</p>"
        + "".join(f"<p><b>{esc(w)}</b></p>" for w in e.warnings)
        + "<table><thead><tr><th>tier</th><th>customers</th><th>share</th><th>cost</th>"
        f"<th>expected saves</th></tr></thead><tbody>{rows}</tbody></table>"
    )
