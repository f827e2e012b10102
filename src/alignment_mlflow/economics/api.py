"""``plan()``: scores + spec -> economics, an MLflow run, and optionally the assignments table.

Order, as in the alignment: everything that can be refused as bad input (spec, targets, every
score) is checked in a first pass that writes nothing; then the MLflow run is opened (or the
finished run of the same plan reused), the assignments are written with the run id in every row
and in the Delta commit, and only then is the run marked FINISHED. A failure after the run opened
marks it FAILED.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from alignment_mlflow import __version__
from alignment_mlflow.economics import report
from alignment_mlflow.economics.bands import BandTable, band_table
from alignment_mlflow.economics.core import Economics, economics, fingerprint
from alignment_mlflow.errors import DeltaWriteError, TargetError
from alignment_mlflow.spec.model import AlignmentSpec

Progress = Callable[[str, float, str], None]


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
        if self.assignments_table:
            same = "" if self.assignments_changed else " (unchanged)"
            lines.append(
                f"assignments: {self.assignments_table} version {self.assignments_version}{same}"
            )
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())


class _Steps:
    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress
        self.detail = ""

    @contextmanager
    def step(self, name: str) -> Iterator[_Steps]:
        self.detail = ""
        start = time.perf_counter()
        yield self
        self.timings[name] = time.perf_counter() - start
        if self.progress is not None:
            self.progress(name, self.timings[name], self.detail)


def _is_spark_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "sparkSession")


def _session(spark: Any, what: str) -> Any:
    if spark is not None:
        return spark
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        active = None
    else:
        active = SparkSession.getActiveSession()
        if active is None and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
            active = SparkSession.builder.getOrCreate()
    if active is None:
        raise TargetError(
            f"{what} is a table name, which needs an active Spark session (a Databricks cluster "
            "or job); off Databricks pass a Parquet or Delta path instead"
        )
    return active


def _scores_table(scores: Any) -> bool:
    """A metastore name, unless a local file of that name exists (``scores.parquet``)."""
    from alignment_mlflow.tiers.schema import is_table_name

    return isinstance(scores, str) and not os.path.exists(scores) and is_table_name(scores)


def _spec_source(spec: Any, profile: str | None) -> tuple[AlignmentSpec, Mapping[str, Any]]:
    if isinstance(spec, AlignmentSpec):
        return spec, {}
    from alignment_mlflow.findings.aligned import load_spec_source

    src = load_spec_source(spec, profile=profile)
    return src.spec, src.alignment


def plan(
    scores: Any,
    spec: Any,
    *,
    id_column: str = "customer_id",
    score_column: str = "churn_score",
    group_columns: Sequence[str] = (),
    assignments_table: str | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    dry_run: bool = False,
    spark: Any = None,
    profile: str | None = None,
    progress: Progress | None = None,
) -> PlanResult:
    """Plan the spec's interventions on ``scores``: a Parquet file or folder, a Delta path, a
    ``catalog.schema.table`` name (Spark), a ``pyarrow.Table`` or a Spark DataFrame. ``spec`` is
    a spec file, an aligned findings file, a dict or an :class:`AlignmentSpec`."""
    from alignment_mlflow.tiers.schema import is_table_name, parse_table_name
    from alignment_mlflow.tracking.uris import check_experiment_name, resolve_tracking_uri

    steps = _Steps(progress)
    groups = list(dict.fromkeys(group_columns))
    with steps.step("validate spec") as s:
        aspec, alignment = _spec_source(spec, profile)
        table = band_table(aspec)
        s.detail = f"{len(table)} tiers, spec {aspec.sha256[:12]}"
    uri = resolve_tracking_uri(tracking_uri or alignment.get("tracking_uri"))
    known_exp = None if experiment or tracking_uri else alignment.get("experiment_id")
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
            from alignment_mlflow.tiers.writer import check_tiers_target

            check_tiers_target(assignments_table)
    use_spark = _is_spark_frame(scores) or target_is_table or _scores_table(scores)

    with steps.step("read + tally") as s:
        if use_spark:
            frame, location, session = _spark_scores(scores, spark, profile)
            from alignment_mlflow.economics import spark_engine

            _, digest = spark_engine.validate(
                frame,
                id_column=id_column,
                score_column=score_column,
                group_columns=groups,
                source=location,
            )
            tally, top_k = spark_engine.tally(
                frame, table, score_column=score_column, group_columns=groups
            )
        else:
            from alignment_mlflow.economics import arrow_engine

            src = arrow_engine.open_scores(scores)
            location = src.location
            tally, top_k = arrow_engine.tally(
                src, table, id_column=id_column, score_column=score_column, group_columns=groups
            )
        result = economics(aspec, table, tally, top_k)
        s.detail = f"{result.rows:,} customers, {'Spark' if use_spark else 'Arrow'}"
    engine = "spark" if use_spark else "arrow"
    if assignments_table is not None and not use_spark:
        with steps.step("check assignments table"):
            _check_arrow_target(src, str(assignments_table), id_column, aspec)
    if dry_run:
        return PlanResult(result, engine, location, timings=steps.timings, dry_run=True)
    if not use_spark:
        digest = src.digest

    from alignment_mlflow.economics import tracking
    from alignment_mlflow.tracking.runs import RunRef, fail_run, make_client

    project = aspec.project_slug
    fp = fingerprint(
        {
            "spec": aspec.sha256,
            "scores": digest,
            "id": id_column,
            "score": score_column,
            "groups": ",".join(groups),
            "version": __version__,
        }
    )
    with steps.step("log run") as s:
        client = make_client(uri)
        exp_id = tracking.experiment_id(client, uri, name=exp_name, known_id=known_exp)
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
                run_name=f"plan {project} {result.rows:,} customers",
                params=report.params(
                    spec_sha256=aspec.sha256,
                    scores_location=location,
                    scores_digest=digest,
                    rows=result.rows,
                    id_column=id_column,
                    score_column=score_column,
                    group_columns=groups,
                    package_version=__version__,
                ),
                metrics=report.metrics(result),
                tags=report.tags(result, fingerprint=fp, project=project, spec_sha256=aspec.sha256),
                tables=report.tables(result),
            )
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
                }
                meta = {
                    "plan_run_id": ref.run_id,
                    "spec_sha256": aspec.sha256,
                    "project": project,
                    "project_name": aspec.business_context.project_name,
                }
                if use_spark:
                    written, version, changed = _write_spark(
                        session, frame, table, str(assignments_table), id_column, score_column,
                        constants, result.rows, meta,
                    )  # fmt: skip
                else:
                    written, version, changed = _write_arrow(
                        src, table, str(assignments_table), id_column, score_column, constants,
                        result.rows, meta,
                    )  # fmt: skip
                s.detail = f"{written} version {version}" + ("" if changed else " (unchanged)")
        tags = {}
        if written is not None:
            tags = {"plan.assignments_table": written, "plan.assignments_version": str(version)}
        tracking.finish_run(
            client, ref, {k: v for k, v in tags.items() if ref.existing_tags.get(k) != v}
        )
    except BaseException as exc:
        if not ref.reused:
            fail_run(client, ref, exc)
        raise
    return PlanResult(
        result,
        engine,
        location,
        run_id=ref.run_id,
        experiment_id=exp_id,
        run_url=ref.run_url,
        reused_run=ref.reused,
        assignments_table=written,
        assignments_version=version,
        assignments_changed=changed,
        timings=steps.timings,
    )


def _spark_scores(scores: Any, spark: Any, profile: str | None) -> tuple[Any, str, Any]:
    if _is_spark_frame(scores):
        return scores, "<spark dataframe>", scores.sparkSession
    from alignment_mlflow.economics.core import ScoresError
    from alignment_mlflow.tiers.schema import parse_table_name

    where = str(scores)
    table_name = _scores_table(where)
    session = _session(spark, f"scores {where}" if table_name else "the assignments table")
    if table_name:
        name = parse_table_name(where)
        if not session.catalog.tableExists(str(name)):
            raise ScoresError(f"scores table {name} does not exist")
        return session.table(str(name)), str(name), session
    if os.path.isdir(os.path.join(where, "_delta_log")):
        return session.read.format("delta").load(where), where, session
    if not os.path.exists(where):
        raise ScoresError(
            f"scores {where} not found: pass a Parquet file or folder or a Delta table"
        )
    return session.read.parquet(where), where, session


def _check_arrow_target(src: Any, target: str, id_column: str, aspec: AlignmentSpec) -> None:
    from alignment_mlflow.economics import assignments
    from alignment_mlflow.tiers.writer import resolved_target

    uri = resolved_target(target)
    try:
        assignments.check_target(
            uri,
            src.dataset.schema.field(id_column).type,
            project=aspec.project_slug,
            project_name=aspec.business_context.project_name,
        )
    except TargetError:
        raise
    except Exception as exc:
        raise DeltaWriteError(f"reading the assignments table {uri} failed: {exc}") from exc


def _write_arrow(
    src: Any, table: BandTable, target: str, id_column: str, score_column: str,
    constants: dict[str, Any], rows: int, meta: dict[str, str],
) -> tuple[str, int, bool]:  # fmt: skip
    from alignment_mlflow.economics import arrow_engine, assignments
    from alignment_mlflow.tiers.writer import resolved_target

    uri = resolved_target(target)
    try:
        same = assignments.already_written(
            uri, project=constants["project"], run_id=constants["plan_run_id"], rows=rows
        )
        if same is not None:
            return uri, same, False
        id_type = src.dataset.schema.field(id_column).type
        reader = arrow_engine.assignment_batches(
            src,
            table,
            id_column=id_column,
            score_column=score_column,
            constants=constants,
            schema=assignments.arrow_schema(id_type),
        )
        version = assignments.write(uri, reader, project=constants["project"], commit_metadata=meta)
    except Exception as exc:
        raise DeltaWriteError(f"writing assignments to Delta table {uri} failed: {exc}") from exc
    return uri, version, True


def _write_spark(
    session: Any, frame: Any, table: BandTable, target: str, id_column: str, score_column: str,
    constants: dict[str, Any], rows: int, meta: dict[str, str],
) -> tuple[str, int, bool]:  # fmt: skip
    from alignment_mlflow.economics import spark_engine
    from alignment_mlflow.tiers.schema import is_table_name, parse_table_name

    if not is_table_name(target):
        raise TargetError(
            f"assignments table {target!r}: with Spark scores pass a table name "
            "(catalog.schema.table) as --assignments-table"
        )
    name = parse_table_name(target)
    out = spark_engine.assignments_frame(
        frame, table, id_column=id_column, score_column=score_column, constants=constants
    )
    try:
        version, changed = spark_engine.write_assignments(
            session, name, out, rows=rows, project=constants["project"],
            run_id=constants["plan_run_id"], commit_metadata=meta,
        )  # fmt: skip
    except Exception as exc:
        raise DeltaWriteError(f"writing assignments to {name} with Spark failed: {exc}") from exc
    return str(name), version, changed
