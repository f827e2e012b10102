"""The outcome's MLflow run, and the chain it joins: the plan run whose assignments were judged
(``plan_run_id`` in every row) and, through that run's link, the alignment run. Through the one
wrapper (``tracking.client``); runs by explicit id, never the fluent active run.

Idempotent as ``run`` and ``plan`` are: a run is found again by its fingerprint (the spec, where
the inputs were read, the Delta versions read, what the scan found, the package version); the
same inputs judged again reuse that FINISHED run and write nothing new. A new Delta version of the
outcomes (late churners added) is another judgement, and another run.

Links are notes, never errors: a plan run that this store does not hold (the plan was tracked
elsewhere) leaves the outcome unlinked, said in the summary; the judgement stands on its own.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignment_mlflow import tagkeys
from alignment_mlflow.outcomes import report
from alignment_mlflow.tracking import chain, chain_io
from alignment_mlflow.tracking import client as client_mod
from alignment_mlflow.tracking.description import md
from alignment_mlflow.tracking.runs import RunRef, fail_run
from alignment_mlflow.tracking.uris import run_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

_call = client_mod.call
PLAN_SECTION = "#### Campaign outcome"
ALIGNMENT_RUN_TAG = tagkeys.ALIGNMENT_RUN  # the plan's (and the outcome's) link to its alignment
LEGACY_ALIGNMENT_RUN_TAG = tagkeys.LEGACY_ALIGNMENT_RUN  # a plan run of the previous release


@dataclass(frozen=True)
class Links:
    """The runs an outcome hangs from, as found in the store (ids are None when absent)."""

    plan_run_id: str | None = None
    plan_experiment_id: str | None = None
    alignment_run_id: str | None = None
    alignment_experiment_id: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def find_links(client: MlflowClient, uri: str, plan_run_id: str | None) -> Links:
    """The plan run and its alignment run, read only (nothing is written before the judgement)."""
    if not plan_run_id:
        return Links(notes=("the assignments name no plan run: the outcome is not linked",))
    try:
        plan = client.get_run(plan_run_id)
    except Exception:
        return Links(notes=(f"plan run {plan_run_id} is not in this store: not linked to it",))
    align_id = plan.data.tags.get(ALIGNMENT_RUN_TAG, plan.data.tags.get(LEGACY_ALIGNMENT_RUN_TAG))
    if not align_id:
        return Links(plan_run_id, plan.info.experiment_id,
                     notes=("the plan run links no alignment run",))  # fmt: skip
    try:
        align = client.get_run(align_id)
    except Exception:
        return Links(plan_run_id, plan.info.experiment_id,
                     notes=(f"alignment run {align_id} is not in this store",))  # fmt: skip
    return Links(plan_run_id, plan.info.experiment_id, align_id, align.info.experiment_id)


def find_run(client: MlflowClient, uri: str, exp_id: str, fingerprint: str) -> Any | None:
    return client_mod.latest_finished_run(
        client, uri, exp_id, report.FINGERPRINT_TAG, fingerprint,
        what="searching for an earlier outcome run",
    )  # fmt: skip


def start_run(
    client: MlflowClient, uri: str, exp_id: str, *, run_name: str, params: Mapping[str, str],
    metrics: Mapping[str, float], tags: Mapping[str, str], tables: Mapping[str, Any],
) -> RunRef:  # fmt: skip
    """Create the run and log everything but the chain; marks it FAILED on any error."""
    from mlflow.entities import Metric, Param, RunTag

    run = _call(
        uri, "creating the outcome run", lambda: client.create_run(exp_id, run_name=run_name)
    )
    rid = run.info.run_id
    ref = RunRef(uri, exp_id, rid, run_url(uri, exp_id, rid), False, int(run.info.start_time))
    try:
        now = int(time.time() * 1000)
        logged = [{"path": f"outcome/{n}.json", "type": "table"} for n in tables]
        batch_tags = [RunTag(k, v[: chain_io.MAX_TAG_VALUE]) for k, v in tags.items()]
        batch_tags.append(RunTag("mlflow.loggedArtifacts", json.dumps(logged)))
        _call(
            uri,
            "logging the outcome",
            lambda: client.log_batch(
                rid,
                metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                params=[Param(k, v[:500]) for k, v in params.items()],
                tags=batch_tags,
            ),
        )
        with tempfile.TemporaryDirectory(prefix="outcome-") as tmp:
            for name, table in tables.items():
                (Path(tmp) / f"{name}.json").write_text(json.dumps(table), encoding="utf-8")
            _call(uri, "uploading the outcome tables",
                  lambda: client.log_artifacts(rid, tmp, "outcome"))  # fmt: skip
    except BaseException as exc:
        fail_run(client, ref, exc)
        raise
    return ref


def link(client: MlflowClient, uri: str, ref: RunRef, links: Links, j: report.Judged) -> list[str]:
    """The outcome shown on the alignment run (its chain: the business metric's verdict, with a
    link) and on the plan run (tags and a section of its description). Compare first."""
    done: list[str] = []
    page = chain.run_link(ref.experiment_id, ref.run_id, ref.run_url)
    verdict = j.outcome.verdict
    if links.alignment_run_id:
        label = f"campaign {j.campaign or '(none)'} outcome"
        entry = chain.entry(ref.run_id, label, page, report.entry_verdict(j))
        extra: dict[str, Any] = {"outcome.verdict": verdict, "outcome.run_id": ref.run_id}
        if j.metric is not None:
            extra[tagkeys.hidden(f"outcome.{j.metric.slug}")] = verdict  # a key per metric: hidden
        written, _ = chain_io.record(client, uri, links.alignment_run_id, "outcomes", entry, extra)
        done += written
    if links.plan_run_id:
        done += _on_plan(client, uri, links.plan_run_id, page, j, ref.run_id)
    return done


def _on_plan(
    client: MlflowClient, uri: str, plan_run_id: str, page: str, j: report.Judged, rid: str
) -> list[str]:
    from mlflow.entities import RunTag

    run = _call(uri, "reading the plan run", lambda: client.get_run(plan_run_id))
    tags: Mapping[str, str] = run.data.tags
    part = "\n".join([PLAN_SECTION, "", f"- [{report.entry_verdict(j)}]({page})"])
    wanted = {
        "outcome.run_id": rid,
        "outcome.verdict": j.outcome.verdict,
        chain_io.NOTE_TAG: chain.splice(tags.get(chain_io.NOTE_TAG, ""), part, PLAN_SECTION),
    }
    pending = [RunTag(k, v[: chain_io.MAX_TAG_VALUE]) for k, v in wanted.items()
               if tags.get(k) != v]  # fmt: skip
    if pending:
        _call(uri, "showing the outcome on the plan run",
              lambda: client.log_batch(plan_run_id, tags=pending))  # fmt: skip
    return [f"{len(pending)} tags on plan run {plan_run_id}"] if pending else []


def finish(client: MlflowClient, ref: RunRef) -> None:
    if not ref.reused:
        from mlflow.entities import RunStatus

        _call(ref.tracking_uri, "finishing the outcome run",
              lambda: client.set_terminated(ref.run_id, RunStatus.to_string(
                  RunStatus.FINISHED)))  # fmt: skip


def description(
    j: report.Judged, *, assignments: str, outcomes: str, plan_url: str | None,
    alignment_url: str | None,
) -> str:  # fmt: skip
    """The outcome run's description: the verdict first, then the tiers, then where from."""
    o = j.outcome
    lines = [f"**{report.VERDICT_WORD[o.verdict]}**: {md(j.headline())}", ""]
    pad = "&emsp;"
    head = ["Tier", "Treated", "Held out", "Reduction", "95% interval", "Saves", "Expected",
            "Claimed", "Verdict"]  # fmt: skip
    lines += ["| " + " | ".join(h + pad for h in head[:-1]) + f" | {head[-1]} |",
              "|" + "|".join(":---" for _ in head) + "|"]  # fmt: skip
    for t in o.tiers:
        cells = [md(t.tier), f"{t.treated:,}", f"{t.holdout:,}", report.pct(t.reduction),
                 report.span(t.reduction_ci), report.num(t.realised_saves),
                 f"{t.expected_saves:,.1f}", f"{t.claimed_reduction:.0%}"]  # fmt: skip
        lines.append(
            "| " + " | ".join(c + pad for c in cells) + f" | **{report.VERDICT_WORD[t.verdict]}** |"
        )
    srm = "failed: every verdict inconclusive" if o.srm_failed else "ok"
    lines += ["", f"Sample ratio: p = {o.srm_p:.3g} ({srm})", "", "### Links", ""]
    lines.append(f"- Assignments: `{assignments.replace('`', '')}`")
    lines.append(f"- Outcomes: `{outcomes.replace('`', '')}`")
    if plan_url:
        lines.append(f"- [Plan run]({plan_url})")
    if alignment_url:
        lines.append(f"- [Alignment run]({alignment_url})")
    return "\n".join(lines)
