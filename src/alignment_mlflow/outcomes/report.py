"""Every surface of one judged campaign, rendered from the one :class:`~.judge.Outcome`: the
``--json`` object, the summary lines, the run's metrics, tags, description and table. Pure: no
I/O, no third-party imports. Nothing here decides: a verdict is read, never recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignment_mlflow.outcomes.judge import Outcome, ProgrammeOutcome, TierOutcome
from alignment_mlflow.spec.model import SuccessMetric
from alignment_mlflow.tagkeys import hidden

KIND = "outcome"
FINGERPRINT_TAG = hidden("outcome_fingerprint")
PLAN_RUN_TAG = "plan.run"  # in view: the outcome's link to its plan run
VERDICT_WORD = {"met": "MET", "not_met": "NOT MET", "inconclusive": "INCONCLUSIVE"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass(frozen=True)
class Judged:
    """One judged campaign: the verdicts with what they were judged on."""

    outcome: Outcome
    campaign: str | None
    metric: SuccessMetric | None  # the spec's business target ("Churn Rate Reduction 20%")
    currency: str
    plan_run_id: str | None

    def headline(self) -> str:
        """The programme verdict in one line: the first line of every surface."""
        p = self.outcome.programme
        word = VERDICT_WORD[p.verdict]
        what = f"{self.metric.metric} {self.metric.target.text}" if self.metric else "programme"
        return f"{what}: {word} ({p.reason})"


def _r(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _ci(ci: tuple[float, float] | None, digits: int = 6) -> list[float] | None:
    return None if ci is None else [round(ci[0], digits), round(ci[1], digits)]


def tier_json(t: TierOutcome) -> dict[str, Any]:
    return {
        "tier": t.tier,
        "treated": t.treated,
        "holdout": t.holdout,
        "churn_treated": _r(t.churn_treated),
        "churn_holdout": _r(t.churn_holdout),
        "reduction": _r(t.reduction),
        "reduction_ci": _ci(t.reduction_ci),
        "realised_saves": _r(t.realised_saves, 2),
        "cost_per_save": _r(t.cost_per_save, 2),
        "verdict": t.verdict,
        # Beyond the contract's keys, what the issue asks per tier and a reader needs:
        "difference": _r(t.difference),
        "difference_ci": _ci(t.difference_ci),
        "saves_ci": _ci(t.saves_ci, 2),
        "spend": round(t.spend, 2),
        "expected_saves": round(t.expected_saves, 2),
        "claimed_reduction": t.claimed_reduction,
        "reason": t.reason,
    }


def programme_json(j: Judged) -> dict[str, Any]:
    p: ProgrammeOutcome = j.outcome.programme
    return {
        "treated": p.treated,
        "holdout": p.holdout,
        "reduction": _r(p.reduction),
        "reduction_ci": _ci(p.reduction_ci),
        "realised_saves": _r(p.realised_saves, 2),
        "saves_ci": _ci(p.saves_ci, 2),
        "expected_saves": round(p.expected_saves, 2),
        "spend": round(p.spend, 2),
        "cost_per_save": _r(p.cost_per_save, 2),
        "currency": j.currency,
        "metric": j.metric.metric if j.metric else None,
        "target": p.target,
        "verdict": p.verdict,
        "reason": p.reason,
    }


def to_json(j: Judged, *, run_id: str | None, timings: Mapping[str, float]) -> dict[str, Any]:
    """The CLI's ``--json`` object: exactly the keys of the contract at the top level."""
    return {
        "campaign": j.campaign,
        "tiers": [tier_json(t) for t in j.outcome.tiers],
        "programme": programme_json(j),
        "srm_p": j.outcome.srm_p,
        "verdict": j.outcome.verdict,
        "run_id": run_id,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def span(ci: tuple[float, float] | None, fmt: str = "{:.1%}") -> str:
    return "-" if ci is None else f"[{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def num(v: float | None, fmt: str = "{:,.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def summary_lines(j: Judged) -> list[str]:
    o = j.outcome
    cur = j.currency
    lines = [
        f"campaign {j.campaign or '(none)'}: {o.programme.treated:,} treated, "
        f"{o.programme.holdout:,} held out",
        f"  {'tier':<8} {'treated':>9} {'held out':>9} {'churn t':>8} {'churn h':>8} "
        f"{'reduction':>10} {'95% interval':>17} {'saves':>8} {'expected':>9} {'verdict':<12}",
    ]
    for t in o.tiers:
        lines.append(
            f"  {t.tier:<8} {t.treated:>9,} {t.holdout:>9,} {pct(t.churn_treated):>8} "
            f"{pct(t.churn_holdout):>8} {pct(t.reduction):>10} {span(t.reduction_ci):>17} "
            f"{num(t.realised_saves):>8} {t.expected_saves:>9,.1f} "
            f"{VERDICT_WORD[t.verdict]:<12}"
        )
    p = o.programme
    lines.append(
        f"programme: reduction {pct(p.reduction)} {span(p.reduction_ci)}, realised saves "
        f"{num(p.realised_saves)} {span(p.saves_ci, '{:,.1f}')} against {p.expected_saves:,.1f}"
        f" expected; spend {p.spend:,.2f} {cur}, cost per realised save "
        f"{num(p.cost_per_save, '{:,.2f}')} {cur}"
    )
    srm = "FAILED" if o.srm_failed else "ok"
    lines.append(f"sample ratio: p = {o.srm_p:.3g} ({srm})")
    lines += [f"tier {t.tier}: {t.reason}" for t in o.tiers if t.verdict == "inconclusive"]
    lines.append(j.headline())
    return lines


def metric_key(text: str) -> str:
    return _UNSAFE.sub("_", text)[:200]


def metrics(j: Judged) -> dict[str, float]:
    """Figures a reader reads in the MLflow UI (six significant digits; the JSON keeps more)."""
    out: dict[str, float] = {"srm_p": j.outcome.srm_p}
    p = j.outcome.programme
    rows: list[tuple[str, Mapping[str, Any]]] = [("programme", programme_json(j))]
    rows += [(f"tier.{metric_key(t.tier)}", tier_json(t)) for t in j.outcome.tiers]
    for prefix, row in rows:
        for key in ("treated", "holdout", "churn_treated", "churn_holdout", "reduction",
                    "realised_saves", "expected_saves", "spend", "cost_per_save"):  # fmt: skip
            if row.get(key) is not None:
                out[f"{prefix}.{key}"] = float(row[key])
        for key in ("reduction_ci", "saves_ci"):
            if row.get(key) is not None:
                out[f"{prefix}.{key}_low"], out[f"{prefix}.{key}_high"] = row[key]
    if p.target is not None:
        out["programme.target"] = p.target
    return {k: float(f"{v:.6g}") for k, v in out.items()}


def tags(j: Judged, *, fingerprint: str, project: str, spec_sha256: str) -> dict[str, str]:
    o = j.outcome
    out = {
        hidden("kind"): KIND,
        FINGERPRINT_TAG: fingerprint,
        hidden("project"): project,
        hidden("spec_sha256"): spec_sha256,
        hidden("campaign"): j.campaign or "",  # in the run's name and description
        "outcome.verdict": o.verdict,
        "outcome.srm": "failed" if o.srm_failed else "ok",
    }
    if j.metric is not None:
        out["outcome.metric"] = f"{j.metric.metric} {j.metric.target.text}"
    if j.plan_run_id:
        out[PLAN_RUN_TAG] = j.plan_run_id
    for t in o.tiers:
        out[hidden(f"tier.{metric_key(t.tier)}")] = t.verdict  # the description's table shows them
    return out


def tables(j: Judged) -> dict[str, dict[str, Any]]:
    rows = [tier_json(t) for t in j.outcome.tiers]
    columns = list(rows[0]) if rows else ["tier"]
    return {"tiers": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}}


def entry_verdict(j: Judged) -> str:
    """The verdict as the alignment and plan runs show it (their chain entry)."""
    p = j.outcome.programme
    what = f"{j.metric.metric} {j.metric.target.text}" if j.metric else "programme"
    return f"{what}: {VERDICT_WORD[p.verdict]}, reduction {pct(p.reduction)} {span(p.reduction_ci)}"
