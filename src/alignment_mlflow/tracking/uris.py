"""Tracking URIs and links, without importing mlflow: they run while validating, before
anything is written (which store, which experiment name, can it be reached, where a run's page
is). Every URI that leaves here is redacted."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from alignment_mlflow.errors import TargetError, TrackingError
from alignment_mlflow.redact import redact_uri
from alignment_mlflow.tracking import chain, databricks

if TYPE_CHECKING:
    from alignment_mlflow.spec.model import AlignmentSpec

_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks", "uc")


def resolve_tracking_uri(explicit: str | None) -> str:
    if explicit:
        return absolute_sqlite(check_not_plain_path(explicit, "--tracking-uri"))
    if os.environ.get("MLFLOW_TRACKING_URI"):
        uri = check_not_plain_path(os.environ["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI")
        return absolute_sqlite(uri)
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "databricks"
    # MLflow 3's own default, a sqlite store in the working directory, made absolute so the
    # findings record where the run really is.
    return f"sqlite:///{os.path.abspath('mlflow.db')}"


def absolute_sqlite(uri: str) -> str:
    """``sqlite:///demo-output/mlflow.db`` (relative to the working directory) as an absolute
    URI: the findings, the summary and the ``mlflow ui`` hint record where the store really is,
    so a later ``plan`` or ``gate`` from another folder finds the same store."""
    if not uri.startswith("sqlite:///") or uri.startswith("sqlite:////"):
        return uri
    path, sep, query = uri[len("sqlite:///") :].partition("?")
    if not path or path == ":memory:" or re.match(r"^[A-Za-z]:[/\\]", path):
        return uri
    return f"sqlite:///{os.path.abspath(path)}{sep}{query}"


def check_not_plain_path(uri: str, given_as: str) -> str:
    """Refuse a tracking URI that is a bare path (``./some/dir``): MLflow fails on it later with
    an error that names neither the option nor the fix. The message gives both spellings MLflow
    takes for a local store."""
    if uri == "databricks" or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):
        return uri
    path = os.path.abspath(uri)
    db = path if path.endswith(".db") else os.path.join(path, "mlflow.db")
    raise TargetError(
        f"{given_as} {redact_uri(uri)!r} is a plain path, not a tracking URI: write "
        f"sqlite:///{db} for a sqlite store (what `make demo` uses); a folder of files is "
        f"file:{path}, which MLflow 3 opens only with MLFLOW_ALLOW_FILE_STORE=true"
    )


def is_databricks(uri: str) -> bool:
    return uri == "databricks" or uri.startswith("databricks://")


def default_experiment(spec: AlignmentSpec) -> str:
    return f"/Shared/alignment/{spec.project_slug}"


def check_experiment_name(name: str, tracking_uri: str) -> None:
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in tracking_uri else ""
    is_path = not scheme and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", tracking_uri)
    if (scheme not in _SCHEMES and not is_path) or not tracking_uri.strip() or " " in tracking_uri:
        raise TargetError(
            f"invalid tracking URI {redact_uri(tracking_uri)!r}: expected http(s)://host:port, "
            "sqlite:///path/mlflow.db, file:/path/folder, or databricks[://profile]"
        )
    if scheme == "sqlite":
        check_sqlite_store(tracking_uri)
    if not name.strip():
        raise TargetError("empty experiment name: pass e.g. /Shared/alignment/<project>")
    if is_databricks(tracking_uri) and not name.startswith(("/Users/", "/Shared/", "/Workspace/")):
        raise TargetError(
            f"experiment {name!r} is not a workspace path; Databricks needs an absolute path "
            "such as /Users/<you@company.com>/churn-alignment or /Shared/alignment/<project>"
        )


def check_sqlite_store(tracking_uri: str) -> None:
    """MLflow's sqlite store needs SQLAlchemy and Alembic, which mlflow-skinny leaves out and this
    package installs only with its ``sqlite`` extra (a Databricks job tracks to ``databricks``):
    refused here, before anything is written, instead of as MLflow's import error mid-run."""
    missing = [m for m in ("sqlalchemy", "alembic") if importlib.util.find_spec(m) is None]
    if missing:
        raise TargetError(
            f"tracking URI {redact_uri(tracking_uri)!r} is a sqlite store, which needs "
            f"{' and '.join(missing)} (not installed): pip install 'alignment_mlflow[sqlite]', "
            "or track to a server or Databricks instead (--tracking-uri http://host:port or "
            "databricks)"
        )


def run_url(
    tracking_uri: str,
    experiment_id: str,
    run_id: str,
    workspace: databricks.WorkspaceInfo | None = None,
) -> str | None:
    """The run's page, without the URI's credentials: it is written into findings and logs."""
    tracking_uri = redact_uri(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/{chain.ui_route(experiment_id, run_id)}"
    if is_databricks(tracking_uri):
        workspace = workspace or databricks.workspace_from_env()
        return databricks.run_url(workspace, experiment_id, run_id) if workspace else None
    return None


def experiment_url(tracking_uri: str, experiment_id: str) -> str | None:
    """The experiment's runs list, where the status column and filters are."""
    clean = redact_uri(tracking_uri)
    if clean.startswith(("http://", "https://")):
        return f"{clean.rstrip('/')}/{chain.ui_route(experiment_id)}"
    url = run_url(tracking_uri, experiment_id, "-")
    return url[: -len("/runs/-")] if url else None


def artifacts_beside(uri: str) -> str | None:
    """For a sqlite store, artifacts in ``mlartifacts/`` beside the database file: MLflow's
    default is ``./mlruns`` of the working directory, which every sqlite store run from the same
    folder would share (and another folder would not find)."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///") :])
    return (db.parent / "mlartifacts").resolve().as_uri() if db.is_absolute() else None


REACH_TIMEOUT_SECONDS = 5.0


def check_reachable(uri: str, timeout: float = REACH_TIMEOUT_SECONDS) -> None:
    """Fail within seconds, naming the URI, when an http(s) tracking server cannot be reached at
    all: MLflow retries a refused connection for minutes (its retries are meant for a server
    that answered and hiccuped, and stay in force once we know the server is there). A TCP
    connect is enough; it costs no HTTP request."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise TrackingError(
            f"MLflow tracking at {redact_uri(uri)} cannot be reached ({reason}); start the "
            "server, check --tracking-uri / MLFLOW_TRACKING_URI, or omit them for the local "
            "sqlite store"
        ) from exc
