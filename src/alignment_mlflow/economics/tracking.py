"""The plan's MLflow run, in the alignment's experiment, through an explicit ``MlflowClient``.

A plan run is found again by its fingerprint tag (spec sha, scores digest, columns, package
version): rerunning a plan on the same scores and spec reuses the finished run instead of logging
a duplicate. Metrics, params, tags and the per-tier table are logged in a few batched requests.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignment_mlflow.economics import report
from alignment_mlflow.tracking import client as client_mod
from alignment_mlflow.tracking import databricks, orphans
from alignment_mlflow.tracking.runs import RunRef, fail_orphans, fail_run
from alignment_mlflow.tracking.uris import is_databricks, run_url

if TYPE_CHECKING:
    from mlflow import MlflowClient


_call = client_mod.call


def experiment_id(client: MlflowClient, uri: str, *, name: str | None, known_id: str | None) -> str:
    """The experiment by id (an aligned findings file's record) or by name, created if absent
    the one way every run's experiment is (``tracking.client.experiment_id``)."""
    if known_id and not name:
        exp = _call(
            uri, f"looking up experiment {known_id}", lambda: client.get_experiment(known_id)
        )
        return str(exp.experiment_id)
    assert name is not None
    if is_databricks(uri):
        # Databricks refuses an experiment under a missing folder: made as align makes it.
        databricks.prepare_experiment(uri, name)
    return client_mod.experiment_id(client, uri, name)


def find_run(client: MlflowClient, uri: str, exp_id: str, fingerprint: str) -> Any | None:
    return client_mod.latest_finished_run(
        client, uri, exp_id, report.FINGERPRINT_TAG, fingerprint,
        what="searching for an earlier plan run",
    )  # fmt: skip


def close_orphans(client: MlflowClient, uri: str, exp_id: str, project: str) -> None:
    """Close the project's plan runs left RUNNING by a killed process, by the lease rule of
    ``run`` (``tracking.orphans``): whatever their scores, they will never finish."""
    quoted = project.replace("\\", "\\\\").replace("'", "\\'")
    running = _call(
        uri,
        "searching for plan runs left running",
        lambda: client.search_runs(
            [exp_id],
            filter_string=f"tags.`{report.KIND_TAG}` = 'plan' and "
            f"tags.`{report.PROJECT_TAG}` = '{quoted}' and attributes.status = 'RUNNING'",
            max_results=100,
        ),
    )
    fail_orphans(client, running)


def start_run(
    client: MlflowClient,
    uri: str,
    exp_id: str,
    *,
    run_name: str,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    tables: Mapping[str, Mapping[str, Any]],
) -> RunRef:
    """Create the run and log everything but the final tags; marks it FAILED on any error."""
    import time

    from mlflow.entities import Metric, Param, RunTag

    # Who runs it and for how long it may, from its creation: a run a killed process leaves
    # RUNNING is closed by the next plan of the project (close_orphans), as the alignment's are.
    lease = {
        report.KIND_TAG: "plan",
        orphans.OWNER_TAG: orphans.owner(),
        orphans.LEASE_TAG: str(orphans.lease_seconds()),
    }
    run = _call(
        uri,
        "creating the plan run",
        lambda: client.create_run(exp_id, run_name=run_name, tags={**lease, **tags}),
    )
    rid = run.info.run_id
    ref = RunRef(uri, exp_id, rid, run_url(uri, exp_id, rid), False, int(run.info.start_time))
    try:
        now = int(time.time() * 1000)
        logged = [{"path": f"{report.ARTIFACT_DIR}/{n}.json", "type": "table"} for n in tables]
        all_tags = [RunTag("mlflow.loggedArtifacts", json.dumps(logged))]  # the rest: at creation
        batch_metrics = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        batch_params = [Param(k, v) for k, v in params.items()]
        for i in range(0, max(len(batch_metrics), 1), 900):
            _call(
                uri,
                "logging the plan",
                lambda i=i: client.log_batch(  # type: ignore[misc]
                    rid,
                    metrics=batch_metrics[i : i + 900],
                    params=batch_params if i == 0 else [],
                    tags=all_tags if i == 0 else [],
                ),
            )
        with tempfile.TemporaryDirectory(prefix="plan-artifacts-") as tmp:
            for name, table in tables.items():
                (Path(tmp) / f"{name}.json").write_text(json.dumps(table), encoding="utf-8")
            _call(uri, "uploading the plan tables", lambda: client.log_artifacts(rid, tmp, "plan"))
    except BaseException as exc:
        fail_run(client, ref, exc)
        raise
    return ref


def finish_run(client: MlflowClient, ref: RunRef, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    batch = [RunTag(k, v) for k, v in tags.items()]
    if batch:
        _call(
            ref.tracking_uri,
            "tagging the plan run",
            lambda: client.log_batch(ref.run_id, tags=batch),
        )
    if not ref.reused:
        _call(
            ref.tracking_uri,
            "finishing the plan run",
            lambda: client.set_terminated(ref.run_id, "FINISHED"),
        )
