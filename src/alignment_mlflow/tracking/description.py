"""The run description (``mlflow.note.content``): the verdict on the first line, then what the
business agreed, as Markdown the MLflow UI renders.

The UI renders Markdown and some HTML, so text from the spec is made inert: ``&``, ``<`` and ``>``
become entities (the MLflow UI's renderer, showdown, shows a backslash before ``<``/``>`` literally
in some rows, "Ratio \\>= 0.8"; entities render as the character in showdown and CommonMark
alike), every other character that can open an image, a link, emphasis, code or a table cell is
backslash-escaped, and line breaks become spaces, so a spec string can never make a reader's
browser fetch anything. Only links this package builds (http(s) URLs of the tracking server and
workspace) are links. The MLflow UI draws tables without padding, so each cell but the last ends
in an em space (``&emsp;``) or neighbouring cells run together. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignment_mlflow.tracking.context import RunContext

_PUNCT = re.compile(r"([\\`*_{}\[\]()!|~])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML = re.compile("[&<>]")
_PAD = "&emsp;"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# The status word itself is the marker: an emoji before it shows as an empty box where the
# reader's browser has no emoji font (a Linux desktop, a locked-down VDI), and says nothing more.
STATUS_LINE = {
    "blocked": "**BLOCKED**: a data constraint failed",
    "needs_review": "**NEEDS REVIEW**: not everything could be verified automatically",
    "aligned": "**ALIGNED**: every data constraint verified",
}


def md(text: object) -> str:
    """Spec or findings text as inert Markdown on one line (safe in a table cell)."""
    text = _HTML.sub(lambda m: _ENTITIES[m.group(0)], _CONTROL.sub(" ", str(text)))
    return _PUNCT.sub(r"\\\1", text)


def _link(label: str, url: str | None) -> str:
    if url and url.startswith(("http://", "https://")):
        return f"[{md(label)}]({url.replace(')', '%29').replace(' ', '%20')})"
    return md(label)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return []

    def line(cells: list[str]) -> str:
        padded = [cell + _PAD for cell in cells[:-1]] + [cells[-1] or " "]
        return "| " + " | ".join(padded) + " |"

    return [
        "",
        line(header),
        "|" + "|".join(":---" for _ in header) + "|",
        *(line(row) for row in rows),
        "",
    ]


def verdict_line(ctx: RunContext) -> str:
    """The first line: the status and the constraints that decided it, by name."""
    failed = [v.constraint for v in ctx.verdicts if v.status == "failed"]
    review = [
        v.constraint for v in ctx.verdicts if v.status in ("unverifiable", "manual", "to_verify")
    ]
    line = STATUS_LINE[ctx.status]
    if failed:
        line += " · failed: " + ", ".join(md(c) for c in failed)
    if review:
        line += " · to review: " + ", ".join(md(c) for c in review)
    return line


def run_description(ctx: RunContext) -> str:
    spec = ctx.spec
    bc = spec.business_context
    budget = bc.budget_constraints or "not stated"
    lines = [
        verdict_line(ctx),
        "",
        f"**{md(bc.project_name)}**: {md(bc.business_objective)}  ",
        f"Budget: {md(budget)} · Timeline: {md(bc.timeline or 'not stated')}  ",
        f"Data: {md(ctx.findings.dataset_name)} ({ctx.findings.row_count} rows, "
        f"{ctx.findings.column_count} columns)",
        "",
        "### Success metrics",
    ]
    lines += _table(
        ["Metric", "Target", "Priority"],
        [[md(m.metric), md(m.target.text), m.priority] for m in spec.success_metrics],
    )
    lines += ["### Intervention tiers"]
    lines += _table(
        ["Tier", "Churn score", "Intervention", "Cost", "Expected retention"],
        [
            [
                md(i.tier),
                md(i.band),
                md(i.intervention),
                md(f"{i.cost.amount:,.2f} {i.cost.currency}")
                + (f" / {md(i.cost.unit)}" if i.cost.unit else ""),
                f"{i.expected_effectiveness.value:.0%}",
            ]
            for i in spec.interventions
        ],
    )
    lines += ["### Deployment requirements"]
    lines += _table(
        ["Requirement", "Value"],
        [[md(k), md(v)] for k, v in spec.deployment_requirements.raw.items()],
    )
    lines += ["### Data constraints"]
    lines += _table(
        ["Constraint", "Status", "Why"],
        [
            [
                md(d.constraint),
                f"**{md(ctx.constraint_status(d.slug, d.status))}**",
                md(ctx.constraint_reason(d.slug, d.requirement)),
            ]
            for d in spec.data_constraints
        ]
        or [["(none declared)", " ", " "]],
    )
    lines += ["### Links", ""]
    lines.append(f"- Findings: `{ctx.findings_location.replace('`', '')}`")
    if ctx.delta_table:
        version = "" if ctx.delta_version is None else f" version {ctx.delta_version}"
        lines.append(f"- Tiers table: `{ctx.delta_table.replace('`', '')}`{version}")
    if ctx.experiment:
        lines.append(f"- Experiment: {_link(ctx.experiment, ctx.experiment_url)}")
    lines.append("- Report: `report.html` (Artifacts)")
    return "\n".join(lines)
