"""``plan()``: scores + spec -> economics, an MLflow run, and optionally the assignments table.

Order, as in the alignment: everything that can be refused as bad input (spec, targets, every
score) is checked in a first pass that writes nothing; then the MLflow run is opened (or the
finished run of the same plan reused), the assignments are written with the run id in every row
and in the Delta commit, and only then is the run marked FINISHED. A failure after the run opened
marks it FAILED.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeAlias

from alignment_mlflow._version import __version__
from alignment_mlflow.bands.table import BandTable, band_table
from alignment_mlflow.economics import holdout as holdouts
from alignment_mlflow.economics import report
from alignment_mlflow.economics.core import Economics, Tally, economics, fingerprint
from alignment_mlflow.economics.engines import open_engine
from alignment_mlflow.errors import TargetError
from alignment_mlflow.redact import redact_uri
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.steps import Progress, Steps
from alignment_mlflow.tables.names import is_table_name, parse_table_name
from alignment_mlflow.tables.targets import check_tiers_target
from alignment_mlflow.tagkeys import hidden
from alignment_mlflow.tracking.client import with_bounded_requests
from alignment_mlflow.tracking.uris import check_experiment_name, resolve_tracking_uri

if TYPE_CHECKING:
    import os

    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

#: What ``plan()`` reads: a path or URI, a table name, an Arrow table or a Spark DataFrame.
Scores: TypeAlias = "str | os.PathLike[str] | pa.Table | DataFrame"
#: A spec file, an aligned findings file, a dict or a validated spec.
SpecSource: TypeAlias = "str | os.PathLike[str] | Mapping[str, Any] | AlignmentSpec"


@dataclass(frozen=True)
class PlanResult:
    economics: Economics
    engine: str
    scores_location: str
    run_id: str | None = None
    experiment_id: str | None = None
    run_url: str | None = None
    reused_run: bool = False
    assignments_table: str | None = None
    assignments_version: int | None = None
    assignments_changed: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)
    dry_run: bool = False
    tracking_uri: str | None = None
    """The store the run was logged to, credentials removed: the summary says where to look."""

    def to_json(self) -> dict[str, Any]:
        return report.to_json(
            self.economics,
            run_id=self.run_id,
            assignments_table=self.assignments_table,
            assignments_version=self.assignments_version,
            timings=self.timings,
        )

    def summary_lines(self) -> list[str]:
        lines = report.summary_lines(self.economics)
        if self.dry_run:
            return [*lines, "dry run: nothing written"]
        reused = " (reused: same scores and spec)" if self.reused_run else ""
        lines.append(f"run: {self.run_url or self.run_id}{reused}")
        if self.tracking_uri:
            lines.append(f"tracking: {self.tracking_uri} (experiment {self.experiment_id})")
        if self.assignments_table:
            same = "" if self.assignments_changed else " (unchanged)"
            lines.append(
                f"assignments: {self.assignments_table} version {self.assignments_version}{same}"
            )
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        from alignment_mlflow.economics.describe import plan_html

        return plan_html(self.economics, self.run_url)


def _prefetch_mlflow(uri: str) -> threading.Thread:
    """Import what logging the run will import, in a thread: a failure is left for the real
    import to report. Started once the engine's own imports are done, and joined before the
    main thread imports anything else, so the two never import at once (no import-lock
    deadlock between them)."""
    names = ["mlflow", "mlflow.tracking", "mlflow.entities", "mlflow.exceptions"]
    if uri.startswith("sqlite:"):
        names.append("mlflow.store.tracking.sqlalchemy_store")

    def load() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # the real import reports it
                return

    thread = threading.Thread(target=load, name="alignment-mlflow-prefetch", daemon=True)
    thread.start()
    return thread


def _draw(
    project: str, campaign: str, requested: float | str, table: BandTable, tally: Tally
) -> holdouts.Holdout:
    """The holdout: its key from (project slug, campaign), its fractions fixed or sized."""
    from alignment_mlflow.outcomes.arms import campaign_key

    key = campaign_key(project, campaign)
    if isinstance(requested, float):
        return holdouts.fixed(campaign, key, requested, table)
    return holdouts.auto(campaign, key, table, tally.counts, tally.score_sums)


@with_bounded_requests
def plan(
    scores: Scores,
    spec: SpecSource,
    *,
    id_column: str = "customer_id",
    score_column: str = "churn_score",
    group_columns: Sequence[str] = (),
    assignments_table: str | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    dry_run: bool = False,
    spark: SparkSession | None = None,
    profile: str | None = None,
    progress: Progress | None = None,
    holdout: str | float | None = None,
    campaign: str | None = None,
) -> PlanResult:
    """Plan the spec's interventions on ``scores``: a Parquet file or folder, a Delta path, a
    ``catalog.schema.table`` name (Spark), a ``pyarrow.Table`` or a Spark DataFrame. ``spec`` is
    a spec file, an aligned findings file, a dict or an :class:`AlignmentSpec`. ``holdout`` (a
    fraction in [0, 1) or ``"auto"``, with a ``campaign`` id) holds out that share of every
    tier: no action, no cost, its arm in the assignments (``economics/holdout.py``)."""
    steps = Steps(progress)
    groups = list(dict.fromkeys(group_columns))
    requested = holdouts.parse(holdout, campaign)
    with steps.step("validate spec") as s:
        from alignment_mlflow.findings.aligned import recorded_tracking_uri, spec_and_alignment

        aspec, alignment = spec_and_alignment(spec, profile=profile)
        table = band_table(aspec)
        s.detail = f"{len(table)} tiers, spec {aspec.sha256[:12]}"
    # The plan goes to the aligned run's store, and to its experiment when the store is that one.
    recorded_uri = recorded_tracking_uri(alignment)
    uri = resolve_tracking_uri(tracking_uri or recorded_uri)
    same_store = not tracking_uri and recorded_uri is not None
    recorded = alignment.get("mlflow") or {}
    known_exp = recorded.get("experiment_id") if same_store and not experiment else None
    exp_name = experiment or (None if known_exp else f"/Shared/alignment/{aspec.project_slug}")
    if exp_name:
        check_experiment_name(exp_name, uri)
    target_is_table = bool(assignments_table) and is_table_name(str(assignments_table))
    if assignments_table is not None:
        if not assignments_table.strip():
            raise TargetError("empty --assignments-table: pass a path or catalog.schema.table")
        if target_is_table:
            parse_table_name(assignments_table)
        else:
            check_tiers_target(assignments_table, "--assignments-table")

    with steps.step("read + tally") as s:
        engine = open_engine(
            scores, spark=spark, assignments_table=assignments_table, id_column=id_column,
            score_column=score_column, group_columns=groups,
        )  # fmt: skip
        # MLflow's import takes seconds; on the Arrow engine it runs beside the scan. Only
        # imports (nothing is written, so bad scores still leave nothing behind), joined before
        # anything else is imported.
        prefetch = _prefetch_mlflow(uri) if engine.name == "arrow" and not dry_run else None
        try:
            tally, top_k = engine.tally(table)
        finally:
            if prefetch is not None:
                prefetch.join()
        drawn = None
        if requested is not None and campaign is not None:
            drawn = _draw(aspec.project_slug, campaign, requested, table, tally)
            top_k = engine.tally_held_out(table, tally, drawn)
        result = economics(aspec, table, tally, top_k, drawn)
        s.detail = f"{result.rows:,} customers, {engine.label}"
        if drawn is not None:
            held = sum(t.holdout for t in result.tiers)
            s.detail += f", {held:,} held out ({drawn.mode}) for campaign {campaign}"
    if assignments_table is not None:
        with steps.step("check assignments table"):
            engine.check_target(str(assignments_table), aspec)
    if dry_run:
        return PlanResult(result, engine.name, engine.location, timings=steps.timings, dry_run=True)
    digest = engine.digest()
    location = engine.location

    from alignment_mlflow.economics import tracking
    from alignment_mlflow.economics.links import log_extras, run_name
    from alignment_mlflow.tracking.runs import RunRef, fail_run, make_client

    project = aspec.project_slug
    # The holdout and campaign are part of the plan's inputs only when given, so a plan without
    # them keeps the fingerprint (and reuses the run) it had before they existed.
    drawn_inputs = {} if campaign is None else {"campaign": campaign}
    if drawn is not None:
        drawn_inputs["holdout"] = drawn.mode
    fp = fingerprint(
        {
            "spec": aspec.sha256,
            "scores": digest,
            "id": id_column,
            "score": score_column,
            "groups": ",".join(groups),
            "version": __version__,
        }
        | drawn_inputs
    )
    with steps.step("log run") as s:
        client = make_client(uri)
        exp_id = tracking.experiment_id(client, uri, name=exp_name, known_id=known_exp)
        tracking.close_orphans(client, uri, exp_id, project)
        found = tracking.find_run(client, uri, exp_id, fp)
        if found is not None:
            from alignment_mlflow.tracking.uris import run_url

            rid = found.info.run_id
            ref = RunRef(
                uri, exp_id, rid, run_url(uri, exp_id, rid), True, int(found.info.start_time),
                dict(found.data.tags),
            )  # fmt: skip
        else:
            ref = tracking.start_run(
                client,
                uri,
                exp_id,
                run_name=run_name(project, result.rows, digest),
                params=report.params(
                    spec_sha256=aspec.sha256,
                    scores_location=location,
                    scores_digest=digest,
                    rows=result.rows,
                    id_column=id_column,
                    score_column=score_column,
                    group_columns=groups,
                    package_version=__version__,
                    scores_version=engine.scores_version,
                )
                | drawn_inputs,
                metrics=report.metrics(result),
                tags=report.tags(result, fingerprint=fp, project=project, spec_sha256=aspec.sha256),
                tables=report.tables(result),
            )
            log_extras(client, uri, ref, result, table, location, digest)
        s.detail = f"run {ref.run_id}" + (" reused" if ref.reused else " created")

    version: int | None = None
    changed = False
    written: str | None = None
    try:
        if assignments_table is not None:
            with steps.step("write assignments") as s:
                scored_at = datetime.fromtimestamp(ref.start_time_ms / 1000, tz=timezone.utc)
                constants = {
                    "project": project,
                    "currency": table.currency,
                    "spec_sha256": aspec.sha256,
                    "plan_run_id": ref.run_id,
                    "scored_at": scored_at,
                    "campaign": campaign,
                }
                meta = {
                    "plan_run_id": ref.run_id,
                    "spec_sha256": aspec.sha256,
                    "project": project,
                    "project_name": aspec.business_context.project_name,
                }
                written, version, changed = engine.write(
                    table, str(assignments_table), constants, result.rows, meta, drawn
                )
                s.detail = f"{written} version {version}" + ("" if changed else " (unchanged)")
        from alignment_mlflow.economics.links import chain_tags

        tags = chain_tags(client, uri, ref, result, location, alignment)
        if written is not None:
            tags[hidden("assignments_table")] = written
            tags[hidden("assignments_version")] = str(version)
        tracking.finish_run(
            client, ref, {k: v for k, v in tags.items() if ref.existing_tags.get(k) != v}
        )
    except BaseException as exc:
        if not ref.reused:
            fail_run(client, ref, exc)
        raise
    return PlanResult(
        result,
        engine.name,
        location,
        run_id=ref.run_id,
        experiment_id=exp_id,
        run_url=ref.run_url,
        reused_run=ref.reused,
        assignments_table=written,
        assignments_version=version,
        assignments_changed=changed,
        timings=steps.timings,
        tracking_uri=redact_uri(uri),
    )
