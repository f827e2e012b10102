"""All MLflow I/O: one run per alignment, logged with few requests, never left RUNNING.

Everything goes through an ``MlflowClient`` with explicit run ids; MLflow's global active run is
never touched, so a notebook's own run is safe. URIs and links are in ``uris`` (no mlflow import),
the orphan rule in ``orphans``; both are re-exported here for the pipeline.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignment_mlflow import tagkeys
from alignment_mlflow.errors import Terminated
from alignment_mlflow.redact import redact_text, redact_uri
from alignment_mlflow.tracking import client as client_mod
from alignment_mlflow.tracking import content, databricks, orphans, uris

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from alignment_mlflow.tracking.databricks import WorkspaceInfo

FINGERPRINT_TAG = tagkeys.hidden("fingerprint")
ARTIFACT_DIR = "alignment"
_BATCH_PARAMS = 100  # MLflow's per-request limit of params in one log_batch


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRef:
    tracking_uri: str
    experiment_id: str
    run_id: str
    run_url: str | None
    reused: bool
    start_time_ms: int
    existing_tags: Mapping[str, str] = field(default_factory=dict)
    artifact_uri: str = ""
    experiment_url: str | None = None


make_client = client_mod.make_client
_call = client_mod.call
_experiment_id = client_mod.experiment_id


def _prepare_databricks(uri: str, experiment: str) -> WorkspaceInfo | None:
    """On Databricks: credentials checked (bounded) and the experiment's folder made."""
    if not uris.is_databricks(uri):
        return None
    return databricks.prepare_experiment(uri, experiment)


def _context_tags() -> dict[str, str]:
    """What fluent ``start_run`` records (user, source, Databricks job), under our own tags."""
    return databricks.context_tags()


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _write_artifacts(
    folder: Path, ctx: content.RunContext, spec_text: str, spec_dict: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The run's record under ``alignment/``: the spec exactly as written (``validate`` accepts
    the downloaded file), its normalised form, the tables. Returns ``mlflow.loggedArtifacts``."""
    out = folder / ARTIFACT_DIR
    out.mkdir()
    (out / "spec.yaml").write_text(spec_text, encoding="utf-8")
    (out / "spec.normalised.json").write_text(
        json.dumps(dict(spec_dict), indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    logged = []
    for name, table in content.tables(ctx.spec, ctx.verdicts).items():
        (out / f"{name}.json").write_text(json.dumps(table, default=str), encoding="utf-8")
        logged.append({"path": f"{ARTIFACT_DIR}/{name}.json", "type": "table"})
    return logged


def _upload(client: MlflowClient, uri: str, ref: RunRef, folder: Path) -> None:
    """Upload a folder's files to the run's artifact root with MLflow's public client (it looks
    the run's artifact location up once per run and caches the repository).

    MLflow 2.x resolves ``mlflow-artifacts:`` locations (a tracking server's proxied artifacts)
    against the process-global tracking URI, not the client's; there the global URI is set to the
    client's for the call, through MLflow's own (internal) context manager."""
    import mlflow

    if int(mlflow.__version__.split(".", 1)[0]) >= 3:
        client.log_artifacts(ref.run_id, str(folder))
        return
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        client.log_artifacts(ref.run_id, str(folder))


def fail_orphans(client: MlflowClient, running: Sequence[Any]) -> None:
    """Mark FAILED the RUNNING runs (of this alignment, of this plan's project) that will never
    finish: a run stays RUNNING when its process was killed or its tracking server died before
    it could close it. The rule is ``orphans.orphan_reason`` (a lease), for align and plan."""
    import socket

    host, now_ms = socket.gethostname(), int(time.time() * 1000)
    for r in running:
        why = orphans.orphan_reason(r, host, now_ms)
        if why:
            ref = RunRef(client.tracking_uri, r.info.experiment_id, r.info.run_id, None, False, 0)
            fail_run(client, ref, RuntimeError(why))


def run_fingerprint(ctx: content.RunContext, tracking_uri: str, tiers_table: str) -> str:
    store = redact_uri(tracking_uri)
    return content.fingerprint(
        ctx.spec.sha256, ctx.findings_sha256, ctx.package_version,
        ctx.findings_location, store, tiers_table,
    )  # fmt: skip


def start_alignment_run(
    client: MlflowClient,
    *,
    tracking_uri: str,
    experiment: str,
    ctx: content.RunContext,
    spec_text: str,
    spec_dict: Mapping[str, Any],
    new_run: bool = False,
    tiers_table: str = "",
    start_time_ms: int | None = None,
    verdicts_at: Callable[[int], content.Verdicts] | None = None,
) -> RunRef:
    """Reuse a finished run of the same alignment (same spec and findings content, findings
    location, tracking store and tiers table) whose verdict is this one's, or log a new one
    completely.

    ``ctx.verdicts`` is the verdict as of ``start_time_ms`` (the new run's start, so the run states
    exactly the verdict it was created with); ``verdicts_at(ms)`` recomputes it as of an earlier
    run's start, which decides reuse (``content.reusable``). Without it nothing is reused."""
    from mlflow.entities import Metric, Param, RunTag

    uri = tracking_uri
    uris.check_reachable(uri)
    workspace = _prepare_databricks(uri, experiment)
    exp_id = _experiment_id(client, uri, experiment)
    fp = run_fingerprint(ctx, uri, tiers_table)
    earlier = _call(
        uri,
        "searching for an earlier run",
        lambda: client.search_runs(
            [exp_id],
            filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fp}'",
            max_results=20,
            order_by=["attributes.start_time DESC"],
        ),
    )
    fail_orphans(client, [r for r in earlier if r.info.status == "RUNNING"])
    finished = [r for r in earlier if r.info.status == "FINISHED"]
    for r in [] if new_run else finished:
        then = verdicts_at(int(r.info.start_time)) if verdicts_at else None
        if then is None or not content.reusable(r.data.tags, then, ctx.verdicts):
            continue
        return RunRef(
            uri,
            exp_id,
            r.info.run_id,
            uris.run_url(uri, exp_id, r.info.run_id, workspace),
            True,
            int(r.info.start_time),
            dict(r.data.tags),
            r.info.artifact_uri,
            uris.experiment_url(uri, exp_id),
        )

    ctx = replace(ctx, experiment=experiment, experiment_url=uris.experiment_url(uri, exp_id))
    tags = content.run_tags(ctx, fingerprint=fp)
    tags[orphans.OWNER_TAG] = orphans.owner()
    tags[orphans.LEASE_TAG] = str(orphans.lease_seconds())
    tags = {**_context_tags(), **tags}
    run = _call(
        uri,
        "creating the run",
        lambda: client.create_run(
            exp_id,
            start_time=start_time_ms,
            run_name=content.run_name(ctx.findings, ctx.spec),
            tags=tags,
        ),
    )
    ref = RunRef(
        uri,
        exp_id,
        run.info.run_id,
        uris.run_url(uri, exp_id, run.info.run_id, workspace),
        False,
        int(run.info.start_time),
        artifact_uri=run.info.artifact_uri,
        experiment_url=ctx.experiment_url,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="alignment-artifacts-") as tmp:
            logged = _write_artifacts(Path(tmp), ctx, spec_text, spec_dict)
            params = [Param(k, v) for k, v in content.flatten_params(ctx.spec).items()]
            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, 0) for k, v in content.run_metrics(ctx).items()]
            logged_tag = [RunTag("mlflow.loggedArtifacts", json.dumps(logged))]
            for i, batch in enumerate(_batches(params, _BATCH_PARAMS)):
                first = i == 0  # tags and metrics ride along with the first batch
                _call(
                    uri,
                    "logging params",
                    lambda b=batch, f=first: client.log_batch(  # type: ignore[misc]
                        ref.run_id,
                        params=b,
                        metrics=metrics if f else [],
                        tags=logged_tag if f else [],
                    ),
                )
            _call(
                uri, "logging the findings as input", lambda: _log_findings_input(client, ctx, ref)
            )
            _call(uri, "uploading artifacts", lambda: _upload(client, uri, ref, Path(tmp)))
    except BaseException as exc:
        fail_run(client, ref, exc)
        raise
    return ref


def _log_findings_input(client: MlflowClient, ctx: content.RunContext, ref: RunRef) -> None:
    """The findings as the run's input dataset, so the runs list's Dataset column and filter
    show which data was aligned: name, source location and digest (its content sha)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    location = ctx.findings_location
    kind = (
        "uc_volume"
        if location.startswith("/Volumes/")
        else ("dbfs" if location.startswith(("dbfs:", "/dbfs/")) else "local")
    )
    # Each source type in MLflow's own shape, so mlflow.data.get_source rebuilds it:
    # UCVolumeDatasetSource takes {"path"}, the artifact sources {"uri"}.
    key = "path" if kind == "uc_volume" else "uri"
    dataset = Dataset(
        name=ctx.findings.dataset_name,
        digest=ctx.findings_sha256[:12],
        source_type=kind,
        source=json.dumps({key: location}),
    )
    tag = InputTag(key="mlflow.data.context", value="findings")
    client.log_inputs(ref.run_id, datasets=[DatasetInput(dataset=dataset, tags=[tag])])


def finish_run(
    client: MlflowClient, ref: RunRef, *, tags: Mapping[str, str], report_html: str | None = None
) -> None:
    """Final tags and ``report.html`` (at the artifact root, so the compare view previews it),
    then FINISHED. A reused run is already finished: only what changed is written."""
    from mlflow.entities import RunTag

    uri = ref.tracking_uri
    pending = {k: v for k, v in tags.items() if not ref.reused or ref.existing_tags.get(k) != v}
    if pending:
        batch = [RunTag(k, content.truncate(v, content.MAX_TAG_VALUE)) for k, v in pending.items()]
        _call(uri, "tagging the run", lambda: client.log_batch(ref.run_id, tags=batch))
    if report_html is not None and (not ref.reused or pending):
        with tempfile.TemporaryDirectory(prefix="alignment-report-") as tmp:
            (Path(tmp) / "report.html").write_text(report_html, encoding="utf-8")
            _call(uri, "uploading report.html", lambda: _upload(client, uri, ref, Path(tmp)))
    if not ref.reused:
        _call(uri, "finishing the run", lambda: _terminate(client, ref.run_id, "FINISHED"))


def _terminate(client: MlflowClient, run_id: str, status: str) -> None:
    """End the run with one request: ``set_terminated`` first fetches the run only to print a
    "View run" link, which costs a round trip and writes to stdout."""
    import time

    from mlflow.entities import RunStatus

    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None or not hasattr(store, "update_run_info"):  # pragma: no cover
        client.set_terminated(run_id, status)
        return
    store.update_run_info(
        run_id,
        run_status=RunStatus.from_string(status),
        end_time=int(time.time() * 1000),
        run_name=None,
    )


def fail_run(client: MlflowClient, ref: RunRef, error: BaseException) -> None:
    """Record the failure on the run; never raises (the original error is what matters)."""
    status = "KILLED" if isinstance(error, KeyboardInterrupt | Terminated) else "FAILED"
    message = redact_text(f"{type(error).__name__}: {error}")
    with client_mod.bounded_requests():
        with contextlib.suppress(Exception):
            client.set_tag(ref.run_id, content.ERROR_TAG, content.truncate(message, 5000))
        with contextlib.suppress(Exception):
            _terminate(client, ref.run_id, status)
