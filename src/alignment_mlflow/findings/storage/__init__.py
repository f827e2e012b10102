"""Where findings live: one store per kind of location, chosen from the location string.

``store_for`` is the only place that looks at a scheme. On a Databricks cluster
(``DATABRICKS_RUNTIME_VERSION`` set) DBFS is a FUSE mount read as local files, and volumes are read
through their mount and written through the Files API (the mount cannot rename, see
``ClusterVolumeStore``); anywhere else both go through databricks-sdk, imported only then.
Serverless compute (``DATABRICKS_RUNTIME_VERSION`` = ``client.<n>``, as MLflow's
``is_in_databricks_serverless_runtime`` checks) has no usable DBFS root: a DBFS path there is a
configuration error pointing to volumes, not a "does not exist".
"""

from __future__ import annotations

import os
from typing import Any

from alignment_mlflow.errors import DatabricksConfigError
from alignment_mlflow.findings.storage.base import ConflictError, Entry, Store, sha256
from alignment_mlflow.findings.storage.local import LocalStore
from alignment_mlflow.findings.storage.memory import MemoryStore

__all__ = ["ConflictError", "Entry", "LocalStore", "MemoryStore", "Store", "sha256", "store_for"]


def _on_cluster() -> bool:
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def _check_dbfs_usable(location: str) -> None:
    runtime = os.environ.get("DATABRICKS_RUNTIME_VERSION", "")
    if runtime.startswith("client."):
        raise DatabricksConfigError(
            f"{location}: DBFS is not available on serverless compute "
            f"(DATABRICKS_RUNTIME_VERSION={runtime}); copy the file or folder to a Unity Catalog "
            "volume and pass /Volumes/<catalog>/<schema>/<volume>/<path> instead"
        )


def store_for(
    location: str, *, profile: str | None = None, client: Any = None
) -> tuple[Store, str]:
    """The store for ``location`` and the path to use with it."""
    loc = location.strip()
    if loc.startswith("dbfs:"):
        rest = "/" + loc[len("dbfs:") :].lstrip("/")
        if _on_cluster():
            _check_dbfs_usable(location)
            return LocalStore(), "/dbfs" + rest
        from alignment_mlflow.findings.storage.databricks import DatabricksStore

        return DatabricksStore(profile=profile, client=client), "dbfs:" + rest
    if loc == "/dbfs" or loc.startswith("/dbfs/"):
        if _on_cluster():
            _check_dbfs_usable(location)
            return LocalStore(), loc
        from alignment_mlflow.findings.storage.databricks import DatabricksStore

        return DatabricksStore(profile=profile, client=client), "dbfs:" + (
            loc[len("/dbfs") :] or "/"
        )
    if loc.startswith("/Volumes/"):
        if _on_cluster():
            from alignment_mlflow.findings.storage.databricks import ClusterVolumeStore

            return ClusterVolumeStore(profile=profile, client=client), loc
        from alignment_mlflow.findings.storage.databricks import DatabricksStore

        return DatabricksStore(profile=profile, client=client), loc
    return LocalStore(), os.path.abspath(os.path.expanduser(loc))
