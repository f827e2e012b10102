"""What a run needs from a Databricks workspace beyond MLflow's REST API.

- The experiment's folder. Databricks refuses ``experiments/create`` under a missing folder
  (``RESOURCE_DOES_NOT_EXIST: Parent directory ... does not exist``, databricks-demos/dbdemos#155),
  so the folder is made first with ``workspace.mkdirs`` (idempotent). The same bounded client also
  checks host and credentials before MLflow's own, much longer, retries start.
- The run link, in the form MLflow builds for Databricks
  (``<host>?o=<workspace id>#mlflow/experiments/<id>/runs/<id>``, as
  ``mlflow.utils.databricks_utils._construct_databricks_run_url``); MLflow's public
  ``get_databricks_run_url`` needs workspace info only a notebook has, so the link is built here.
- The context tags fluent ``mlflow.start_run`` gives a run (user, source, and on Databricks the
  job and job-run ids), from MLflow's public ``resolve_tags``, sent with ``create_run``.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any

from alignment_mlflow.errors import DatabricksConfigError, TrackingError
from alignment_mlflow.workspace import describe, failure, workspace_client


@dataclass(frozen=True)
class WorkspaceInfo:
    host: str
    workspace_id: str | None = None


def profile_of(tracking_uri: str) -> str | None:
    """``databricks://prod`` -> ``prod``; ``databricks`` -> None (the default chain)."""
    rest = tracking_uri.split("://", 1)[1] if "://" in tracking_uri else ""
    return rest.split(":", 1)[0] or None


def _normal_host(host: str) -> str:
    host = host.rstrip("/")
    return host if host.startswith(("http://", "https://")) else f"https://{host}"


def _cluster_info() -> WorkspaceInfo | None:
    """Host and workspace id from the notebook/job context, when running on Databricks."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return None
    try:
        from mlflow.utils.databricks_utils import get_workspace_info_from_dbutils

        host, workspace_id = get_workspace_info_from_dbutils()
    except Exception:
        return None
    return WorkspaceInfo(_normal_host(host), str(workspace_id)) if host else None


def workspace_from_env() -> WorkspaceInfo | None:
    """What can be known without a request: the cluster's context, or DATABRICKS_HOST."""
    info = _cluster_info()
    if info is None and os.environ.get("DATABRICKS_HOST"):
        info = WorkspaceInfo(
            _normal_host(os.environ["DATABRICKS_HOST"]), os.environ.get("DATABRICKS_WORKSPACE_ID")
        )
    return info


def prepare_experiment(tracking_uri: str, experiment: str, client: Any = None) -> WorkspaceInfo:
    """Check host and credentials, make the experiment's parent folder; the workspace's link info.

    Raises DatabricksConfigError (exit 2) for credentials, profile or host problems, TrackingError
    (exit 1) when the host does not answer within the bound.
    """
    profile = profile_of(tracking_uri)
    w = client if client is not None else workspace_client(profile)
    host = _normal_host(str(w.config.host))
    parent = posixpath.dirname(experiment.rstrip("/")) or "/"
    what = f"preparing experiment {experiment}"
    try:
        workspace_id = str(w.get_workspace_id())
        _mkdirs(w, parent, host=host, profile=profile)
    except Exception as exc:
        mapped = failure(exc, what=what, host=host, profile=profile, system_error=TrackingError)
        if mapped is None:
            raise TrackingError(f"{what} on {describe(host, profile)}: {exc}") from exc
        raise mapped from exc
    cluster = _cluster_info()
    return cluster or WorkspaceInfo(host, workspace_id)


def _mkdirs(w: Any, folder: str, *, host: str, profile: str | None) -> None:
    from databricks.sdk.errors import PermissionDenied

    try:
        w.workspace.mkdirs(folder)
    except PermissionDenied as exc:
        try:  # may exist already, shared with us without the right to create its siblings
            w.workspace.get_status(folder)
            return
        except Exception:
            pass
        raise DatabricksConfigError(
            f"cannot create the experiment folder {folder} on {describe(host, profile)}: "
            f"permission denied ({exc}); create it and grant the job's identity CAN_EDIT, or "
            "pass --experiment under a folder it can write (e.g. /Users/<you>/...)"
        ) from exc


def run_url(workspace: WorkspaceInfo, experiment_id: str, run_id: str) -> str:
    url = workspace.host
    if workspace.workspace_id and workspace.workspace_id != "0":
        url += f"?o={workspace.workspace_id}"
    return f"{url}#mlflow/experiments/{experiment_id}/runs/{run_id}"


def context_tags() -> dict[str, str]:
    """MLflow's context tags for a run started here (never fails: they are nice to have)."""
    try:
        from mlflow.tracking.context.registry import resolve_tags

        tags = resolve_tags()
    except Exception:
        return {}
    return {str(k): str(v) for k, v in tags.items() if v is not None}
