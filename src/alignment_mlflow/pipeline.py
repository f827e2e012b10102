"""The alignment job: the notebook's steps as one function.

The order is what keeps a failure from leaving a half state: everything that can be rejected as
bad input (spec, findings, targets, strict constraints) is checked before the first write; then the
MLflow run is opened, the Delta tiers are written with the run id in their commit, the findings
file is updated last (it carries the run id and table version), and only then is the run marked
FINISHED. Any failure after the run opened marks it FAILED, and the findings file stays untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from alignment_mlflow._version import __version__
from alignment_mlflow.redact import redact_uri
from alignment_mlflow.result import JSON_KEYS, AlignmentResult
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.steps import Progress, Steps
from alignment_mlflow.tracking.client import with_bounded_requests
from alignment_mlflow.tracking.content import RunContext

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession

    from alignment_mlflow.findings.constraints import Verdict
    from alignment_mlflow.findings.discovery import DiscoveryChoice
    from alignment_mlflow.findings.document import FindingsDocument, FindingsView
    from alignment_mlflow.findings.io import FindingsLocation, FindingsWriteResult
    from alignment_mlflow.tables.targets import Target
    from alignment_mlflow.tiers.writer import TiersWriteResult
    from alignment_mlflow.tracking.runs import RunRef
    from alignment_mlflow.yamlio import JSONObject

__all__ = ["JSON_KEYS", "AlignmentResult", "Progress", "align"]


def _discovery_text(choice: DiscoveryChoice) -> str:
    skipped = "; ".join(f"skipped {name}: {why}" for name, why in choice.skipped)
    return str(choice.reason) + (f"; {skipped}" if skipped else "")


@dataclass(frozen=True)
class _Plan:
    """Everything validated before the first write: the spec and where each system is."""

    spec: AlignmentSpec
    spec_text: str
    # The spec rendered once per run: the run's spec.json and the findings' metadata show the
    # same rendering, and nothing renders it again on the way.
    spec_dict: JSONObject
    interventions: tuple[JSONObject, ...]  # spec_dict's, one per tier (the findings show them)
    notebook: JSONObject  # the notebook's three metadata keys (spec.notebook_metadata)
    tiers: Target  # resolved once here; the collision check, tags and writer all use it
    tracking_uri: str
    experiment: str
    spark: SparkSession | None  # the session a table name is written with; None for paths


@dataclass(frozen=True)
class _Findings:
    loc: FindingsLocation
    doc: FindingsDocument
    discovery: str | None
    related: tuple[FindingsView, ...]  # views of the event-level file(s) of an aggregated one


def _validate(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    tiers_table: str | None,
    tracking_uri: str | None,
    experiment: str | None,
    profile: str | None,
    client: WorkspaceClient | None,
    spark: Any,  # a classic or a Spark Connect session: two classes
) -> _Plan:
    from alignment_mlflow.errors import TargetError
    from alignment_mlflow.findings.aligned import load_spec_source
    from alignment_mlflow.spec import notebook_metadata, spec_to_dict
    from alignment_mlflow.tiers import writer as tiers
    from alignment_mlflow.tracking import uris
    from alignment_mlflow.tracking.content import name_problems

    source = load_spec_source(spec, profile=profile, client=client)
    aspec = source.spec
    target = tiers.resolve_target(tiers_table or tiers.DEFAULT_TIERS_TABLE)
    session = tiers.spark_for(target, spark)
    tiers.check_project(target, aspec, spark=session)
    uri = uris.resolve_tracking_uri(tracking_uri)
    name = experiment or uris.default_experiment(aspec)
    uris.check_experiment_name(name, uri)
    problems = name_problems(aspec, name)
    if problems:
        raise TargetError("MLflow would refuse this run: " + "; ".join(problems))
    rendered = spec_to_dict(aspec)
    return _Plan(
        aspec,
        source.spec_text,
        rendered,
        tuple(rendered["interventions"]),
        notebook_metadata(aspec),
        target,
        uri,
        name,
        session,
    )


def _load_findings(
    findings: str | os.PathLike[str], profile: str | None, client: WorkspaceClient | None
) -> _Findings:
    from alignment_mlflow.findings import io as findings_io

    loc = findings_io.locate_findings(os.fspath(findings), profile=profile, client=client)
    doc = findings_io.read_findings(loc)
    findings_io.check_writable(loc)
    related: tuple[FindingsView, ...] = ()
    if doc.view.is_aggregated:
        related = tuple(d.view for d in findings_io.read_related_findings(loc, doc))
    discovery = _discovery_text(loc.discovery) if loc.discovery else None
    return _Findings(loc, doc, discovery, related)


def _prior_warnings(plan: _Plan, found: _Findings) -> tuple[str, ...]:
    """What the findings already say that this run will override: said, never silent."""
    from alignment_mlflow.findings.prior import (
        changed_destinations,
        describe_replaced,
        replaced_notebook_block,
    )

    meta = found.doc.data.get("metadata")
    out = [f"spec: {w}" for w in plan.spec.warnings]
    replaced = replaced_notebook_block(meta, plan.notebook)
    if replaced:
        out.append(describe_replaced(replaced, found.loc.display))
    previous = meta.get("alignment") if isinstance(meta, Mapping) else None
    out += changed_destinations(previous, plan.tracking_uri, plan.tiers.value, cwd=os.getcwd())
    return tuple(out)


def _check_constraints(
    plan: _Plan, found: _Findings, now: datetime, reference: datetime | None
) -> tuple[Verdict, ...]:
    from alignment_mlflow.findings.constraints import verify_constraints

    return tuple(
        verify_constraints(
            plan.spec,
            found.doc.view,
            now=now,
            related=found.related,
            freshness_reference=reference,
        )
    )


def _refuse_if_strict(verdicts: tuple[Verdict, ...], found: _Findings) -> None:
    from alignment_mlflow.errors import ConstraintViolationError

    failed = [v.constraint for v in verdicts if v.status == "failed"]
    if failed:
        raise ConstraintViolationError(
            f"--strict: data constraint(s) failed for {found.loc.display}: {', '.join(failed)}; "
            "nothing was written (see `alignment-mlflow check` for the evidence)"
        )


def _dry_run(
    plan: _Plan, found: _Findings, verdicts: tuple[Verdict, ...], timings: Mapping[str, float]
) -> AlignmentResult:
    planned = {
        "log run": f"experiment {plan.experiment} at {redact_uri(plan.tracking_uri)}",
        "merge tiers": f"{len(plan.spec.interventions)} rows for project "
        f"{plan.spec.project_slug} into {plan.tiers.given}",
        "update findings": "metadata keys business_context, success_metrics, "
        f"deployment_requirements, alignment in {found.loc.display}",
    }
    return AlignmentResult(
        findings_path=found.loc.display,
        discovery=found.discovery,
        tracking_uri=redact_uri(plan.tracking_uri),
        experiment_id=None,
        run_id=None,
        run_url=None,
        reused_run=False,
        tiers_table=plan.tiers.given,
        tiers_version=None,
        tiers_changed=False,
        findings_updated=False,
        constraints=_dicts(verdicts),
        timings=timings,
        dry_run=True,
        planned=planned,
    )


def _run_context(plan: _Plan, found: _Findings, verdicts: tuple[Verdict, ...]) -> RunContext:
    from alignment_mlflow.findings.document import base_sha256

    return RunContext(
        spec=plan.spec,
        findings=found.doc.view,
        findings_location=found.loc.display,
        findings_sha256=base_sha256(found.doc),
        verdicts=verdicts,
        package_version=__version__,
        experiment=plan.experiment,
        user=_user(),
    )


def _user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return None


def _log_run(
    client: MlflowClient,
    plan: _Plan,
    found: _Findings,
    ctx: RunContext,
    *,
    new_run: bool,
    start_ms: int,
    reference: datetime | None,
) -> RunRef:
    from alignment_mlflow.tracking import runs as tracking

    def verdicts_at(ms: int) -> tuple[Verdict, ...]:
        return _check_constraints(plan, found, _at(ms), reference)

    return tracking.start_alignment_run(
        client,
        tracking_uri=plan.tracking_uri,
        experiment=plan.experiment,
        ctx=ctx,
        spec_text=plan.spec_text,
        spec_dict=plan.spec_dict,
        new_run=new_run,
        tiers_table=plan.tiers.value,
        start_time_ms=start_ms,
        verdicts_at=verdicts_at,
    )


def _clock_ms() -> int:
    """Now, in the milliseconds MLflow stores a run's start in (tests set the clock here)."""
    import time

    return int(time.time() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _finish(client: MlflowClient, ctx: RunContext, ref: RunRef, written: TiersWriteResult) -> None:
    from alignment_mlflow.tracking.chain_io import finish_alignment_run
    from alignment_mlflow.tracking.content import final_tags
    from alignment_mlflow.tracking.report import report_html

    ctx = replace(
        ctx,
        experiment_url=ref.experiment_url,
        run_url=ref.run_url,
        delta_table=written.table,
        delta_version=written.version,
        aligned_at=_run_start(ref).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    finish_alignment_run(client, ref, final_tags(ctx), report_html(ctx), ctx)


def _update_findings(
    plan: _Plan,
    found: _Findings,
    verdicts: tuple[Verdict, ...],
    ref: RunRef,
    written: TiersWriteResult,
) -> FindingsWriteResult:
    from alignment_mlflow.findings import io as findings_io
    from alignment_mlflow.findings.writeback import alignment_metadata

    updates = alignment_metadata(
        plan.spec,
        spec_dict=plan.spec_dict,
        constraints=_dicts(verdicts),
        interventions=plan.interventions,
        aligned_at=_run_start(ref).isoformat().replace("+00:00", "Z"),
        package_version=__version__,
        mlflow_refs={
            "tracking_uri": redact_uri(plan.tracking_uri),
            "experiment_id": ref.experiment_id,
            "run_id": ref.run_id,
            "run_url": ref.run_url,
        },
        delta_refs={"table": written.table, "version": written.version},
        notebook=plan.notebook,
    )
    return findings_io.update_findings_metadata(found.loc, found.doc, updates)


def _run_start(ref: RunRef) -> datetime:
    return _at(ref.start_time_ms)


@with_bounded_requests
def align(
    findings: str | os.PathLike[str],
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    tiers_table: str | None = None,
    new_run: bool = False,
    dry_run: bool = False,
    strict: bool = False,
    profile: str | None = None,
    freshness_reference: datetime | None = None,
    spark: Any = None,
    workspace_client: WorkspaceClient | None = None,
    progress: Progress | None = None,
) -> AlignmentResult:
    """Align a churn project: log the spec to MLflow, write tiers to Delta, update the findings.

    ``findings``: a file or folder (local, ``dbfs:/``, ``/dbfs/``, ``/Volumes/``); ``spec``: a spec
    file, an aligned findings file or a dict. A rerun of the same alignment writes nothing new.
    """
    from alignment_mlflow.tiers import writer as tiers
    from alignment_mlflow.tracking import runs as tracking

    steps = Steps(progress)
    with steps.step("validate_spec") as s:
        plan = _validate(
            spec,
            tiers_table=tiers_table,
            tracking_uri=tracking_uri,
            experiment=experiment,
            profile=profile,
            client=workspace_client,
            spark=spark,
        )
        s.detail = _spec_detail(plan.spec)
    with steps.step("load_findings") as s:
        found = _load_findings(findings, profile, workspace_client)
        warnings = _prior_warnings(plan, found)
        s.detail = found.loc.display + (f" ({found.discovery})" if found.discovery else "")
    start_ms = _clock_ms()
    with steps.step("check_constraints") as s:
        verdicts = _check_constraints(plan, found, _at(start_ms), freshness_reference)
        s.detail = _verdict_detail(verdicts)
        if strict:
            _refuse_if_strict(verdicts, found)
    if dry_run:
        return replace(_dry_run(plan, found, verdicts, steps.timings), warnings=warnings)

    with steps.step("mlflow_run") as s:
        client = tracking.make_client(plan.tracking_uri)
        ctx = replace(_run_context(plan, found, verdicts), warnings=warnings)
        ref = _log_run(
            client,
            plan,
            found,
            ctx,
            new_run=new_run,
            start_ms=start_ms,
            reference=freshness_reference,
        )
        s.detail = f"run {ref.run_id}" + (" reused" if ref.reused else " created")
        # One verdict per run (docs/verdict.md): a new run starts at start_ms, so this is the
        # verdict it was created with; a run is reused only when its verdict, as of its start, is
        # the one it recorded and its statuses still hold now. Stated as of the run's start, a
        # rerun of the same alignment writes byte-identical findings.
        verdicts = _check_constraints(plan, found, _run_start(ref), freshness_reference)
    try:
        with steps.step("delta_tiers") as s:
            written = tiers.write_tiers(
                plan.tiers,
                plan.spec,
                findings_path=found.loc.display,
                run_id=ref.run_id,
                spark=plan.spark,
            )
            s.detail = f"{written.table} version {written.version}" + (
                "" if written.changed else " (no change)"
            )
        with steps.step("findings_update") as s:
            wrote = _update_findings(plan, found, verdicts, ref, written)
            s.detail = found.loc.display + (" updated" if wrote.changed else " unchanged")
        with steps.step("finish_run"):
            _finish(client, replace(ctx, verdicts=verdicts), ref, written)
    except BaseException as exc:
        if not ref.reused:
            tracking.fail_run(client, ref, exc)
        raise
    return replace(
        _result(plan, found, verdicts, ref, written, wrote, steps.timings), warnings=warnings
    )


def _dicts(verdicts: tuple[Verdict, ...]) -> tuple[dict[str, Any], ...]:
    return tuple(v.to_dict() for v in verdicts)


def _spec_detail(aspec: AlignmentSpec) -> str:
    return (
        f"{aspec.source or 'dict spec'}: {len(aspec.success_metrics)} metrics, "
        f"{len(aspec.interventions)} tiers, {len(aspec.data_constraints)} constraints"
    )


def _verdict_detail(verdicts: tuple[Verdict, ...]) -> str:
    from alignment_mlflow.findings.constraints import summarise

    return ", ".join(f"{n} {k}" for k, n in sorted(summarise(verdicts).items()) if n) or "none"


def _result(
    plan: _Plan,
    found: _Findings,
    verdicts: tuple[Verdict, ...],
    ref: RunRef,
    written: TiersWriteResult,
    wrote: FindingsWriteResult,
    timings: Mapping[str, float],
) -> AlignmentResult:
    return AlignmentResult(
        findings_path=found.loc.display,
        discovery=found.discovery,
        tracking_uri=redact_uri(plan.tracking_uri),
        experiment_id=ref.experiment_id,
        run_id=ref.run_id,
        run_url=ref.run_url,
        reused_run=ref.reused,
        tiers_table=written.table,
        tiers_version=written.version,
        tiers_changed=written.changed,
        findings_updated=wrote.changed,
        constraints=_dicts(verdicts),
        timings=timings,
        experiment_url=ref.experiment_url,
    )
