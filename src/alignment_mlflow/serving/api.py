"""``serve()``: wrap a registered model version so it returns the agreed tier with its score.

Order matters, as in ``gate()``: the arguments, the spec and its bands, the SQL function's name,
the inner version and its score output are all read and checked before the first write, so bad
input (exit 2) leaves every store untouched. Then the SQL function (CREATE OR REPLACE: the same
text is the same function) and the wrapper version, registered only when no version made of the
same inputs exists (its tags say what it is made of), so a rerun registers nothing.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignment_mlflow.bands.table import band_table
from alignment_mlflow.errors import InvalidInputError, SystemFailure
from alignment_mlflow.findings.aligned import load_spec_source
from alignment_mlflow.serving import core
from alignment_mlflow.serving.result import ServeResult, SqlFunction
from alignment_mlflow.steps import Steps
from alignment_mlflow.tracking.client import with_bounded_requests
from alignment_mlflow.tracking.models import parse_model_version

if TYPE_CHECKING:
    from mlflow import MlflowClient


def _alignment_run_id(alignment: Mapping[str, Any]) -> str | None:
    record = alignment.get("mlflow") if alignment else None
    if isinstance(record, Mapping) and record.get("run_id"):
        return str(record["run_id"])
    return None


def _create_function(spark: Any, statement: str, name: str) -> None:
    from alignment_mlflow.serving.spark import create_function

    try:
        create_function(spark, statement)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ in ("AnalysisException", "ParseException"):
            raise InvalidInputError(f"--sql-function {name}: Spark refused it: {detail}") from exc
        raise SystemFailure(f"creating SQL function {name} failed: {detail}") from exc


@with_bounded_requests
def serve(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    model_version: str,
    register_as: str | None = None,
    sql_function: str | None = None,
    score_output: str | None = None,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    dry_run: bool = False,
    profile: str | None = None,
    client: MlflowClient | None = None,
    spark: Any = None,
) -> ServeResult:
    """Register ``<NAME>_tiered`` (or ``register_as``): a pyfunc that loads ``model_version``
    and returns per row ``score, tier, intervention, cost, currency, spec_sha256`` with the tiers
    of ``spec`` (a spec file or dict, or an aligned findings file). ``score_output`` names the
    inner model's output that is the churn score (default: ``predict_proba[:, 1]`` of a binary
    classifier, else its single output). ``sql_function`` (``catalog.schema.function``) also
    compiles the tiers to a SQL function, created when a Spark session is at hand (``spark``,
    the active one, a Databricks runtime's) and printed either way."""
    from alignment_mlflow.serving import inner as inner_mod
    from alignment_mlflow.serving import registry as io
    from alignment_mlflow.tracking.client import make_client
    from alignment_mlflow.tracking.uris import resolve_tracking_uri

    t0 = time.perf_counter()
    steps = Steps(None)
    notes: list[str] = []
    with steps.step("spec"):
        try:
            name, number = parse_model_version(model_version)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
        inner_ref = f"models:/{name}/{number}"
        target = core.check_model_name(register_as or core.default_register_as(name))
        if target == name:
            raise InvalidInputError(
                f"--register-as {target} is the inner model itself: register the wrapper "
                "under another name"
            )
        function = core.parse_function_name(sql_function) if sql_function else None
        source = load_spec_source(spec, profile=profile)
        table = band_table(source.spec)
        core.check_partition(table)
        sha = source.spec.sha256
        run_id = _alignment_run_id(source.alignment)
        statement = core.sql_function_statement(table, function, sha) if function else None

    work = Path(tempfile.mkdtemp(prefix="alignment-serve-"))
    try:
        with steps.step("read"):
            uri = resolve_tracking_uri(tracking_uri)
            client = client or make_client(uri, registry_uri)
            version = io.read_version(client, uri, name, number)
            inner_dir = io.download(client, uri, version, work / "inner")
            choice = core.choose_score(inner_mod.inspect(inner_dir, inner_ref), score_output)
            wanted = core.identity_tags(sha, run_id, inner_ref, choice)
            found = core.existing_version(io.versions(client, uri, target), wanted)
            session = None
            if function is not None and not dry_run:
                from alignment_mlflow.serving.spark import session as find_session

                session = find_session(spark)
                if session is None:
                    notes.append(
                        f"SQL function {function} printed, not created: no Spark session (run "
                        "on Databricks, or run the statement in a SQL editor)"
                    )
        created = False
        registered = False
        ref = f"models:/{target}/{found.version}" if found is not None else None
        if dry_run:
            notes.append("dry run: nothing written")
        else:
            if session is not None and statement is not None and function is not None:
                with steps.step("sql function"):
                    _create_function(session, statement, str(function))
                    created = True
            if found is None:
                with steps.step("register"):
                    config = core.table_config(table, sha, choice)
                    model_dir = io.build(inner_dir, config, work / "wrapper")
                    made = io.register(
                        client,
                        uri,
                        experiment_id=io.experiment_of(client, uri, version),
                        model_dir=model_dir,
                        name=target,
                        tags=wanted,
                        run_tags=core.run_tags(wanted),
                        run_name=f"serve {target} <- {inner_ref}",
                    )
                    ref = f"models:/{target}/{made.version}"
                    registered = True
            else:
                notes.append(f"{ref} is already this wrapper (same spec, inner version, score)")
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    sql = SqlFunction(str(function), statement, created) if function and statement else None
    return ServeResult(
        model_version=ref,
        registered=registered,
        inner_version=inner_ref,
        spec_sha256=sha,
        score_output=str(choice),
        sql_function=sql,
        notes=tuple(notes),
        timings={**steps.timings, "total": time.perf_counter() - t0},
    )
