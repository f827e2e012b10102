"""Where findings live: one store per kind of location, chosen from the location string.

``store_for`` is the only place that looks at a scheme. On a Databricks cluster
(``DATABRICKS_RUNTIME_VERSION`` set) DBFS and volumes are FUSE mounts and read as local files;
anywhere else they go through databricks-sdk, imported only then.
"""

from __future__ import annotations

import os
from typing import Any

from alignment_mlflow.findings.storage.base import ConflictError, Entry, Store, sha256
from alignment_mlflow.findings.storage.local import LocalStore
from alignment_mlflow.findings.storage.memory import MemoryStore

__all__ = ["ConflictError", "Entry", "LocalStore", "MemoryStore", "Store", "sha256", "store_for"]


def _on_cluster() -> bool:
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def store_for(
    location: str, *, profile: str | None = None, client: Any = None
) -> tuple[Store, str]:
    """The store for ``location`` and the path to use with it."""
    loc = location.strip()
    if loc.startswith("dbfs:"):
        rest = "/" + loc[len("dbfs:") :].lstrip("/")
        if _on_cluster():
            return LocalStore(), "/dbfs" + rest
        from alignment_mlflow.findings.storage.databricks import DatabricksStore

        return DatabricksStore(profile=profile, client=client), "dbfs:" + rest
    if loc == "/dbfs" or loc.startswith("/dbfs/"):
        if _on_cluster():
            return LocalStore(), loc
        from alignment_mlflow.findings.storage.databricks import DatabricksStore

        return DatabricksStore(profile=profile, client=client), "dbfs:" + (
            loc[len("/dbfs") :] or "/"
        )
    if loc.startswith("/Volumes/"):
        if _on_cluster():
            return LocalStore(), loc
        from alignment_mlflow.findings.storage.databricks import DatabricksStore

        return DatabricksStore(profile=profile, client=client), loc
    return LocalStore(), os.path.abspath(os.path.expanduser(loc))
