"""What an engineer reads in the MLflow UI: the verdict first, then the record.

The run leads with one status (``alignment.status``: blocked / needs_review / aligned) as a tag, as
counts in metrics the runs list can sort and filter with ``>``, and as the description's first
line. Declared facts (the spec) are params, each once, keyed by what differs
(``metric.model_auc.target``, ``tier.high.cost``); outcomes (constraint statuses) are tags and
metrics. Values longer than MLflow accepts are cut here with a visible marker, never silently by
the server. Only names, types, counts and dates from the findings appear, never column values.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alignment_mlflow.tagkeys import hidden
from alignment_mlflow.tracking.context import RunContext as RunContext
from alignment_mlflow.tracking.context import Verdicts as Verdicts
from alignment_mlflow.tracking.description import run_description

if TYPE_CHECKING:
    from alignment_mlflow.findings.document import FindingsView
    from alignment_mlflow.spec.model import AlignmentSpec

# MLflow's own limits (mlflow.utils.validation) and Databricks' params per run.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250
MAX_PARAMS = 1600
MAX_EXPERIMENT_NAME = 500
TRUNCATION_MARKER = "…[truncated; full text in alignment/spec.yaml]"
_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-. ]")
# mlflow.utils.validation.validate_param_and_metric_name, but to the end (no final newline)
_VALID_NAME = re.compile(r"\A[/\w.\- :]*\Z")

# What a reader sees on an alignment run (tagkeys): the status, why, on which data. The rest is
# bookkeeping, hidden from the Tags panel (``mlflow.alignment.``), still searchable.
STATUS_TAG = "alignment.status"
REASONS_TAG = "alignment.why"
DATASET_TAG = "alignment.data"
ERROR_TAG = "alignment.error"  # a failed run: why
VERDICT_TAG = hidden("verdict_sha256")
PROJECT_TAG = hidden("project")


def reasons(verdicts: Verdicts) -> str:
    """What decided the status, in one tag a runs-list column can show: the constraints that
    are not passed, with their status ("" when every one passed)."""
    return "; ".join(f"{v.constraint}: {v.status}" for v in verdicts if v.status != "passed")


def truncate(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else _text(value)
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


def param_key(*parts: str) -> str:
    """A key MLflow accepts for params, tags and metrics: safe characters only, no empty or
    dot-only parts (MLflow treats names as paths: ``a/../b`` would resolve to another name)."""
    clean = [re.sub(r"\.{2,}", ".", _KEY_BAD.sub("_", str(p))).strip(" .") or "_" for p in parts]
    return ".".join(clean)


def _money(amount: float, currency: str, unit: str | None = None) -> str:
    return f"{amount:g} {currency}" + (f"/{unit}" if unit else "")


def _declared(spec: AlignmentSpec) -> list[tuple[tuple[str, ...], Any]]:
    """The spec's facts, once each, under the key parts that tell them apart."""
    facts: list[tuple[tuple[str, ...], Any]] = []
    facts += [(("context", str(k)), v) for k, v in spec.business_context.raw.items()]
    for m in spec.success_metrics:
        facts += [(("metric", m.slug, "target"), m.target.text)]
        facts += [(("metric", m.slug, "priority"), m.priority)]
    facts += [(("deploy", str(k)), v) for k, v in spec.deployment_requirements.raw.items()]
    for i in spec.interventions:
        facts += [
            (("tier", i.slug, "band"), str(i.band)),
            (("tier", i.slug, "intervention"), i.intervention),
            (("tier", i.slug, "cost"), _money(i.cost.amount, i.cost.currency, i.cost.unit)),
            (("tier", i.slug, "retention"), i.expected_effectiveness.value),
        ]
    facts += [(("constraint", d.slug, "requirement"), d.requirement) for d in spec.data_constraints]
    return [(k, v) for k, v in facts if v is not None and v != ""]


def flatten_params(spec: AlignmentSpec) -> dict[str, str]:
    """Declared facts as params: immutable, so a rerun with another spec is another run."""
    return {param_key(*k): truncate(v, MAX_PARAM_VALUE) for k, v in _declared(spec)}


def name_problems(spec: AlignmentSpec, experiment: str) -> list[str]:
    """What MLflow would refuse about this run's names, found before anything is written:
    experiment names over 500 characters, keys over 250, two spec keys that become the same
    param, more params than Databricks accepts in a run."""
    problems = []
    if len(experiment) > MAX_EXPERIMENT_NAME:
        problems.append(
            f"experiment name is {len(experiment)} characters, over MLflow's "
            f"{MAX_EXPERIMENT_NAME}; pass a shorter --experiment"
        )
    seen: dict[str, tuple[str, ...]] = {}
    for parts, _ in _declared(spec):
        key = param_key(*parts)
        where = ".".join(parts)
        if len(key) > MAX_KEY:
            problems.append(f"{where}: the param key is {len(key)} characters, over {MAX_KEY}")
        elif not _VALID_NAME.match(key) or posixpath.normpath(key) != key:
            problems.append(f"{where}: {key!r} is not a valid MLflow param name")
        elif key in seen and seen[key] != parts:
            problems.append(
                f"{where} and {'.'.join(seen[key])} both become the param {key!r}; rename one"
            )
        seen.setdefault(key, parts)
    if len(seen) > MAX_PARAMS:
        problems.append(f"the spec makes {len(seen)} params, over the {MAX_PARAMS} per run")
    return problems


def fingerprint(spec_sha256: str, findings_sha256: str, package_version: str, *where: str) -> str:
    """Identifies one alignment: the same spec on the same findings content, and (``where``)
    the same findings location, tracking store and tiers table, so that a run is never adopted by
    an alignment that reads another copy or writes another table (dev and prod)."""
    blob = "\n".join([f"{spec_sha256}:{findings_sha256}:{package_version}", *where]).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def verdict_digest(verdicts: Verdicts) -> str:
    """Identifies one verdict: every constraint's status, reason and evidence, as stored."""
    as_stored = [v.to_dict() for v in verdicts]
    blob = json.dumps(as_stored, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def reusable(tags: Mapping[str, str], then: Verdicts, now: Verdicts) -> bool:
    """Whether a finished run of the same alignment may stand for this one: only when the verdict
    it shows is the verdict this alignment has. ``then`` is the verdict recomputed as of the run's
    start (it must be exactly the one the run recorded: same options, same related files), ``now``
    as of this invocation (the statuses must not have moved since: time passed on live data). A
    run written before the verdict was recorded is never reused."""
    recorded = tags.get(VERDICT_TAG)
    if recorded is None or recorded != verdict_digest(then):
        return False
    return [v.status for v in then] == [v.status for v in now]


def run_name(findings: FindingsView, spec: AlignmentSpec) -> str:
    """Tells runs apart in the list: which data, which spec."""
    return f"{findings.dataset_name}-{spec.sha256[:7]}"


def _counts(verdicts: Verdicts) -> dict[str, int]:
    out = {"passed": 0, "failed": 0, "unverifiable": 0, "manual": 0}
    for v in verdicts:
        status = "manual" if v.status == "to_verify" else v.status
        out[status] = out.get(status, 0) + 1
    return out


def run_metrics(ctx: RunContext) -> dict[str, float]:
    """The verdict as numbers the runs list can sort and filter
    (``metrics.constraints_failed > 0``)."""
    counts = _counts(ctx.verdicts)
    return {
        **{f"constraints_{k}": float(n) for k, n in counts.items()},
        "tiers": float(len(ctx.spec.interventions)),
        "success_metrics": float(len(ctx.spec.success_metrics)),
    }


def run_tags(ctx: RunContext, *, fingerprint: str) -> dict[str, str]:
    """Three tags in view (status, reasons, dataset); the constraint statuses are in the
    reasons, the description, the ``data_constraints`` table and the metrics, not one tag each."""
    tags = {
        STATUS_TAG: ctx.status,
        REASONS_TAG: reasons(ctx.verdicts),
        DATASET_TAG: ctx.findings.dataset_name,
        PROJECT_TAG: ctx.spec.project_slug,
        hidden("project_name"): ctx.spec.business_context.project_name,
        hidden("findings_path"): ctx.findings_location,
        hidden("findings_sha256"): ctx.findings_sha256,
        hidden("spec_sha256"): ctx.spec.sha256,
        hidden("package_version"): ctx.package_version,
        hidden("fingerprint"): fingerprint,
        VERDICT_TAG: verdict_digest(ctx.verdicts),
        "mlflow.note.content": run_description(ctx),
    }
    if ctx.warnings:
        tags[hidden("warnings")] = "\n".join(ctx.warnings)
    return {k: truncate(v, MAX_TAG_VALUE) for k, v in tags.items()}


def final_tags(ctx: RunContext) -> dict[str, str]:
    """Set when the run finishes: the links the description could not have before."""
    tags = {
        hidden("delta_table"): ctx.delta_table or "",
        hidden("delta_version"): "" if ctx.delta_version is None else str(ctx.delta_version),
        hidden("findings_updated"): "true",
        hidden("findings_path"): ctx.findings_location,
        "mlflow.note.content": run_description(ctx),
    }
    return {k: truncate(v, MAX_TAG_VALUE) for k, v in tags.items()}


def tables(spec: AlignmentSpec, verdicts: Verdicts) -> dict[str, dict[str, Any]]:
    """The three MLflow tables, in pandas' ``orient="split"`` shape that MLflow's UI reads."""
    by_slug = {v.slug: v.to_dict() for v in verdicts}  # the tables are JSON artifacts
    return {
        "success_metrics": {
            "columns": [
                *("metric", "target", "operator", "threshold", "unit", "priority", "rationale"),
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
                *("rank", "tier", "risk_level", "band", "intervention", "cost_per_customer"),
                *("currency", "expected_retention_rate"),
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
                *("constraint", "requirement", "declared_status", "status", "check", "reason"),
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
