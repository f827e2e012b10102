"""``outcomes()``: a campaign's assignments + what became of its customers + the spec -> the
verdicts per tier and on the programme's business target, and one MLflow run.

Order, as everywhere: everything that can be refused as bad input (the spec, the tables, the
campaign, every id and outcome) is checked in a first pass that writes nothing, and the verdict
is computed once (:func:`~.judge.judge`); only then is the run opened (or the finished run of the
same judgement reused), the verdict shown on the plan and alignment runs, and the run finished.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from alignment_mlflow._version import __version__
from alignment_mlflow.outcomes import counts, report
from alignment_mlflow.outcomes.engines import Engine, open_engine
from alignment_mlflow.outcomes.judge import judge
from alignment_mlflow.redact import redact_uri
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.steps import Progress, Steps
from alignment_mlflow.tagkeys import ALIGNMENT_RUN
from alignment_mlflow.tracking.client import with_bounded_requests
from alignment_mlflow.tracking.uris import check_experiment_name, resolve_tracking_uri

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

    from alignment_mlflow.outcomes.tracking import Links

#: What ``outcomes()`` reads: a Delta or Parquet path or URI, a table name, an Arrow table or a
#: Spark DataFrame (as ``plan()`` reads its scores).
Source: TypeAlias = "str | os.PathLike[str] | pa.Table | DataFrame"


@dataclass(frozen=True)
class OutcomeResult:
    judged: report.Judged
    engine: str
    assignments_location: str
    outcomes_location: str
    run_id: str | None = None
    experiment_id: str | None = None
    run_url: str | None = None
    reused_run: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)
    tracking_uri: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return self.judged.outcome.verdict

    def to_json(self) -> dict[str, Any]:
        return report.to_json(self.judged, run_id=self.run_id, timings=self.timings)

    def summary_lines(self) -> list[str]:
        lines = report.summary_lines(self.judged)
        reused = " (reused: same inputs)" if self.reused_run else ""
        lines.append(f"run: {self.run_url or self.run_id}{reused}")
        if self.tracking_uri:
            lines.append(f"tracking: {self.tracking_uri} (experiment {self.experiment_id})")
        return lines + [f"note: {n}" for n in self.notes]

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())


def evaluate(
    assignments: Source, outcomes: Source, spec: AlignmentSpec, *, campaign: str | None = None,
    id_column: str = "customer_id", churned_column: str = "churned", spark: Any = None,
    steps: Steps | None = None, engine: str | None = None,
) -> tuple[report.Judged, Engine, counts.Scan]:  # fmt: skip
    """Read, check and judge; writes nothing (the pure/Arrow path tests and benches call this).
    Returns (the judged campaign, the engine, its scan); ``engine`` forces "arrow" or "spark"."""
    steps = steps or Steps(None)
    with steps.step("read + join") as s:
        reader = open_engine(
            assignments, outcomes, spark=spark, id_column=id_column, churned=churned_column,
            engine=engine,
        )  # fmt: skip
        present = reader.campaigns(spec.project_slug)
        chosen = counts.choose_campaign(present, campaign, reader.assignments_location)
        scan = reader.scan(spec.project_slug, chosen)
        s.detail = f"{scan.assignments:,} assigned, {scan.outcomes:,} outcomes, {reader.label}"
    with steps.step("judge") as s:
        counts.check(scan, spec, assignments=reader.assignments_location,
                     outcomes=reader.outcomes_location)  # fmt: skip
        metric = counts.business_metric(spec)
        outcome = judge(counts.tier_counts(scan, spec), counts.business_target(metric))
        judged = report.Judged(
            outcome, chosen, metric,
            scan.currencies[0] if scan.currencies else spec.interventions[0].cost.currency,
            scan.plan_run_ids[0] if scan.plan_run_ids else None,
        )  # fmt: skip
        s.detail = f"{outcome.verdict} (srm p = {outcome.srm_p:.3g})"
    return judged, reader, scan


@with_bounded_requests
def outcomes(
    assignments: Source,
    outcomes: Source,
    spec: AlignmentSpec | str | os.PathLike[str] | Mapping[str, Any],
    *,
    campaign: str | None = None,
    id_column: str = "customer_id",
    churned_column: str = "churned",
    tracking_uri: str | None = None,
    experiment: str | None = None,
    spark: Any = None,
    profile: str | None = None,
    progress: Progress | None = None,
) -> OutcomeResult:
    """Judge a campaign: ``assignments`` as ``plan --holdout`` wrote them and ``outcomes`` (one
    row per assigned customer: id and churned 0/1), paths, URIs, table names (Spark), Arrow
    tables or DataFrames; ``spec`` the spec or aligned findings file the plan used."""
    steps = Steps(progress)
    with steps.step("validate spec") as s:
        from alignment_mlflow.findings.aligned import recorded_tracking_uri, spec_and_alignment

        aspec, alignment = spec_and_alignment(spec, profile=profile)
        s.detail = f"spec {aspec.sha256[:12]}"
    uri = resolve_tracking_uri(tracking_uri or recorded_tracking_uri(alignment))
    if experiment:
        check_experiment_name(experiment, uri)
    judged, engine, scan = evaluate(
        assignments, outcomes, aspec, campaign=campaign, id_column=id_column,
        churned_column=churned_column, spark=spark, steps=steps,
    )  # fmt: skip

    from alignment_mlflow.outcomes import tracking
    from alignment_mlflow.tracking.client import experiment_id, make_client
    from alignment_mlflow.tracking.runs import RunRef
    from alignment_mlflow.tracking.uris import run_url

    fp = hashlib.sha256(
        "\n".join(
            [
                aspec.sha256,
                engine.assignments_location,
                engine.outcomes_location,
                repr(judged.campaign),
                id_column,
                churned_column,
                scan.canonical(),
                __version__,
            ]
        ).encode()
    ).hexdigest()[:32]
    with steps.step("log run") as s:
        client = make_client(uri)
        links: Links = tracking.find_links(client, uri, judged.plan_run_id)
        exp_name = experiment or (None if links.plan_experiment_id else
                                  f"/Shared/alignment/{aspec.project_slug}")  # fmt: skip
        exp_id = experiment_id(client, uri, exp_name) if exp_name else links.plan_experiment_id
        assert exp_id is not None
        found = tracking.find_run(client, uri, exp_id, fp)
        if found is not None:
            rid = found.info.run_id
            ref = RunRef(uri, exp_id, rid, run_url(uri, exp_id, rid), True,
                         int(found.info.start_time), dict(found.data.tags))  # fmt: skip
        else:
            ref = tracking.start_run(
                client, uri, exp_id,
                run_name=f"outcome-{aspec.project_slug}-{judged.campaign or 'campaign'}",
                params=_params(aspec, engine, judged, id_column, churned_column),
                metrics=report.metrics(judged),
                tags=report.tags(judged, fingerprint=fp, project=aspec.project_slug,
                                 spec_sha256=aspec.sha256)
                | _link_tags(links)
                | {"mlflow.note.content": tracking.description(
                    judged, assignments=engine.assignments_location,
                    outcomes=engine.outcomes_location,
                    plan_url=_url(links.plan_experiment_id, links.plan_run_id),
                    alignment_url=_url(links.alignment_experiment_id, links.alignment_run_id))},
                tables=report.tables(judged),
            )  # fmt: skip
        s.detail = f"run {ref.run_id}" + (" reused" if ref.reused else " created")
    try:
        with steps.step("link runs") as s:
            done = tracking.link(client, uri, ref, links, judged)
            s.detail = "; ".join(done) or "nothing new"
        tracking.finish(client, ref)
    except BaseException as exc:
        if not ref.reused:
            from alignment_mlflow.tracking.runs import fail_run

            fail_run(client, ref, exc)
        raise
    return OutcomeResult(
        judged, engine.name, engine.assignments_location, engine.outcomes_location,
        run_id=ref.run_id, experiment_id=exp_id, run_url=ref.run_url, reused_run=ref.reused,
        timings=steps.timings, tracking_uri=redact_uri(uri), notes=links.notes,
    )  # fmt: skip


def _url(experiment_id: str | None, run_id: str | None) -> str | None:
    from alignment_mlflow.tracking.chain import run_link

    return run_link(experiment_id, run_id) if experiment_id and run_id else None


def _link_tags(links: Links) -> dict[str, str]:
    out = {}
    if links.plan_run_id:
        out[report.PLAN_RUN_TAG] = links.plan_run_id
    if links.alignment_run_id:
        out[ALIGNMENT_RUN] = links.alignment_run_id
    return out


def _params(
    spec: AlignmentSpec, engine: Engine, j: report.Judged, id_column: str, churned: str
) -> dict[str, str]:
    return {
        "spec_sha256": spec.sha256,
        "assignments_location": engine.assignments_location,
        "outcomes_location": engine.outcomes_location,
        "campaign": j.campaign or "",
        "id_column": id_column,
        "churned_column": churned,
        "engine": engine.name,
        "alignment_mlflow_version": __version__,
    }
