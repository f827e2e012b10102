"""All MLflow I/O: one run per alignment, logged with few requests, never left RUNNING.

Everything goes through an ``MlflowClient`` with explicit run ids; MLflow's global active run is
never touched, so a notebook's own run is safe. The URI helpers at the top do not import mlflow:
they run during validation, before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from alignment_mlflow.errors import TargetError, TrackingError
from alignment_mlflow.tracking import content as report

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from alignment_mlflow.findings.document import FindingsView
    from alignment_mlflow.spec.model import AlignmentSpec
    from alignment_mlflow.tracking.databricks import WorkspaceInfo

T = TypeVar("T")
FINGERPRINT_TAG = "alignment.fingerprint"
OWNER_TAG = "alignment.owner"  # host:pid of the process that runs the alignment
ARTIFACT_DIR = "alignment"
_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks", "uc")
_BATCH_PARAMS = 100  # MLflow's per-request limit of params in one log_batch


# --------------------------------------------------------------------------- no mlflow import


def resolve_tracking_uri(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "databricks"
    # MLflow 3's own default, a sqlite store in the working directory, made absolute so the
    # findings record where the run really is.
    return f"sqlite:///{os.path.abspath('mlflow.db')}"


def _is_databricks(uri: str) -> bool:
    return uri == "databricks" or uri.startswith("databricks://")


def default_experiment(spec: AlignmentSpec) -> str:
    return f"/Shared/alignment/{spec.project_slug}"


def check_experiment_name(name: str, tracking_uri: str) -> None:
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in tracking_uri else ""
    is_path = not scheme and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", tracking_uri)
    if (scheme not in _SCHEMES and not is_path) or not tracking_uri.strip() or " " in tracking_uri:
        raise TargetError(
            f"invalid tracking URI {tracking_uri!r}: expected http(s)://host:port, "
            "sqlite:///path/mlflow.db, a local folder, or databricks[://profile]"
        )
    if not name.strip():
        raise TargetError("empty experiment name: pass e.g. /Shared/alignment/<project>")
    if _is_databricks(tracking_uri) and not name.startswith(("/Users/", "/Shared/", "/Workspace/")):
        raise TargetError(
            f"experiment {name!r} is not a workspace path; Databricks needs an absolute path "
            "such as /Users/<you@company.com>/churn-alignment or /Shared/alignment/<project>"
        )


def run_url(
    tracking_uri: str, experiment_id: str, run_id: str, workspace: WorkspaceInfo | None = None
) -> str | None:
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    if _is_databricks(tracking_uri):
        from alignment_mlflow.tracking import databricks

        workspace = workspace or databricks.workspace_from_env()
        return databricks.run_url(workspace, experiment_id, run_id) if workspace else None
    return None


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


def make_client(tracking_uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _call(uri: str, what: str, fn: Callable[[], T]) -> T:
    """Wrap tracking failures (after MLflow's own retries) so the message names the server."""
    try:
        return fn()
    except TrackingError:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        detail = exc.message if isinstance(exc, MlflowException) else str(exc)
        detail = detail.splitlines()[0][:300] if detail else type(exc).__name__
        raise TrackingError(f"MLflow tracking at {uri}: {what} failed: {detail}") from exc


def _experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    exp = _call(uri, f"looking up experiment {name}", lambda: client.get_experiment_by_name(name))
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            raise TargetError(
                f"experiment {name} is deleted in {uri}; restore it or pass another --experiment"
            )
        return str(exp.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:
        # Another process may have created it meanwhile.
        exp = _call(uri, f"creating experiment {name}", lambda: client.get_experiment_by_name(name))
        if exp is None:
            raise
        return str(exp.experiment_id)


def _prepare_databricks(uri: str, experiment: str) -> WorkspaceInfo | None:
    """On Databricks: credentials checked (bounded) and the experiment's folder made."""
    if not _is_databricks(uri):
        return None
    from alignment_mlflow.tracking import databricks

    return databricks.prepare_experiment(uri, experiment)


def _context_tags() -> dict[str, str]:
    """What fluent ``start_run`` records (user, source, Databricks job), under our own tags."""
    from alignment_mlflow.tracking import databricks

    return databricks.context_tags()


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _write_artifacts(
    folder: Path,
    spec: AlignmentSpec,
    spec_dict: Mapping[str, Any],
    findings: FindingsView,
    verdicts: Sequence[Mapping[str, Any]],
    run_id: str,
) -> list[dict[str, str]]:
    """Write the run's artifacts into ``folder``; returns the ``mlflow.loggedArtifacts`` entries."""
    (folder / "spec.yaml").write_text(
        yaml.safe_dump(
            dict(spec_dict), default_flow_style=False, sort_keys=False, allow_unicode=True
        ),
        encoding="utf-8",
    )
    logged = []
    for name, table in report.tables(spec, verdicts).items():
        (folder / f"{name}.json").write_text(json.dumps(table, default=str), encoding="utf-8")
        logged.append({"path": f"{ARTIFACT_DIR}/{name}.json", "type": "table"})
    (folder / "report.html").write_text(
        report.report_html(spec, findings, verdicts, run_id=run_id), encoding="utf-8"
    )
    return logged


def _upload(client: MlflowClient, uri: str, run: Any, folder: Path) -> None:
    """Upload the folder with the run's artifact repository (saves the get-run lookup)."""
    try:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        from mlflow.tracking._tracking_service.utils import _artifact_repos_cache
        from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

        artifact_uri = add_databricks_profile_info_to_artifact_uri(run.info.artifact_uri, uri)
        repo = get_artifact_repository(artifact_uri, tracking_uri=uri)
        _artifact_repos_cache[run.info.run_id] = repo
    except ImportError:  # pragma: no cover - older/newer MLflow layouts
        client.log_artifacts(run.info.run_id, str(folder), ARTIFACT_DIR)
        return
    repo.log_artifacts(str(folder), ARTIFACT_DIR)


def _owner() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _fail_orphans(client: MlflowClient, running: Sequence[Any]) -> None:
    """Mark FAILED the RUNNING runs of this alignment whose process on this host is gone.

    A run stays RUNNING when its process was killed or its tracking server died before it could
    be marked FAILED. Only runs owned by a dead process on this machine are touched: a run owned
    by a live process (a concurrent alignment) or by another machine is left alone.
    """
    import socket

    host = socket.gethostname()
    for r in running:
        owner = str(r.data.tags.get(OWNER_TAG, ""))
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, owned by someone else
        ref = RunRef(client.tracking_uri, r.info.experiment_id, r.info.run_id, None, False, 0)
        fail_run(client, ref, RuntimeError(f"orphaned: process {owner} ended without finishing"))


def start_alignment_run(
    client: MlflowClient,
    *,
    tracking_uri: str,
    experiment: str,
    spec: AlignmentSpec,
    spec_dict: Mapping[str, Any],
    findings: FindingsView,
    findings_location: str,
    findings_sha256: str,
    verdicts: Sequence[Mapping[str, Any]] = (),
    new_run: bool = False,
    package_version: str,
) -> RunRef:
    """Reuse the finished run of the same alignment, or log a new one completely."""
    from mlflow.entities import Param, RunTag

    uri = tracking_uri
    workspace = _prepare_databricks(uri, experiment)
    exp_id = _experiment_id(client, uri, experiment)
    fp = report.fingerprint(spec.sha256, findings_sha256, package_version)
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
    _fail_orphans(client, [r for r in earlier if r.info.status == "RUNNING"])
    finished = [r for r in earlier if r.info.status == "FINISHED"]
    if finished and not new_run:
        r = finished[0]
        return RunRef(
            uri,
            exp_id,
            r.info.run_id,
            run_url(uri, exp_id, r.info.run_id, workspace),
            True,
            int(r.info.start_time),
            dict(r.data.tags),
        )

    tags = report.run_tags(
        spec,
        findings=findings,
        findings_location=findings_location,
        findings_sha256=findings_sha256,
        fingerprint=fp,
        package_version=package_version,
        verdicts=verdicts,
    )
    tags[OWNER_TAG] = _owner()
    tags = {**_context_tags(), **tags}
    run = _call(
        uri,
        "creating the run",
        lambda: client.create_run(exp_id, run_name=report.run_name(findings), tags=tags),
    )
    ref = RunRef(
        uri,
        exp_id,
        run.info.run_id,
        run_url(uri, exp_id, run.info.run_id, workspace),
        False,
        int(run.info.start_time),
    )
    try:
        with tempfile.TemporaryDirectory(prefix="alignment-artifacts-") as tmp:
            logged = _write_artifacts(Path(tmp), spec, spec_dict, findings, verdicts, ref.run_id)
            params = [Param(k, v) for k, v in report.flatten_params(spec, verdicts).items()]
            logged_tag = [RunTag("mlflow.loggedArtifacts", json.dumps(logged))]
            for i, batch in enumerate(_batches(params, _BATCH_PARAMS)):
                tags_now = logged_tag if i == 0 else []  # rides along with the first batch
                _call(
                    uri,
                    "logging params",
                    lambda b=batch, t=tags_now: client.log_batch(ref.run_id, params=b, tags=t),  # type: ignore[misc]
                )
            _call(uri, "uploading artifacts", lambda: _upload(client, uri, run, Path(tmp)))
    except BaseException as exc:
        fail_run(client, ref, exc)
        raise
    return ref


def finish_run(client: MlflowClient, ref: RunRef, *, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    uri = ref.tracking_uri
    # A reused run is already FINISHED: only tags whose values changed are written.
    pending = {k: v for k, v in tags.items() if not ref.reused or ref.existing_tags.get(k) != v}
    if pending:
        batch = [RunTag(k, report.truncate(v, report.MAX_TAG_VALUE)) for k, v in pending.items()]
        _call(uri, "tagging the run", lambda: client.log_batch(ref.run_id, tags=batch))
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
    status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
    message = f"{type(error).__name__}: {error}"
    with contextlib.suppress(Exception):
        client.set_tag(ref.run_id, "alignment.error", report.truncate(message, 5000))
    with contextlib.suppress(Exception):
        _terminate(client, ref.run_id, status)
