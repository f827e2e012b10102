"""The Databricks branch of the one Spark session lookup, with the real databricks-sdk: its
``databricks.sdk.runtime`` reads the session from the runtime's namespace (``dbruntime``, which
only a cluster has; a stand-in module plays it here), and without it builds a workspace client."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from alignment_mlflow.tables import spark as tables_spark


def _fresh_sdk_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """``databricks.sdk.runtime`` decides at import what ``spark`` is: import it anew per test."""
    monkeypatch.delitem(sys.modules, "databricks.sdk.runtime", raising=False)
    import databricks.sdk

    monkeypatch.delattr(databricks.sdk, "runtime", raising=False)


def _runtime_namespace(monkeypatch: pytest.MonkeyPatch, spark: Any) -> None:
    """The runtime's user namespace as a cluster provides it to ``databricks.sdk.runtime``."""

    class UserNamespaceInitializer:
        @staticmethod
        def getOrCreate() -> UserNamespaceInitializer:
            return UserNamespaceInitializer()

        def get_namespace_globals(self) -> dict[str, Any]:
            return {"spark": spark}

    dbruntime = types.ModuleType("dbruntime")
    dbruntime.UserNamespaceInitializer = UserNamespaceInitializer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dbruntime", dbruntime)


def test_on_a_cluster_the_session_is_the_sdk_runtimes(monkeypatch: pytest.MonkeyPatch) -> None:
    session = object()
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    _fresh_sdk_runtime(monkeypatch)
    _runtime_namespace(monkeypatch, session)
    assert tables_spark.databricks_spark() is session
    import databricks.sdk.runtime

    assert databricks.sdk.runtime.is_local_implementation is False


def test_without_the_runtime_namespace_the_sdk_gives_no_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Off a runtime namespace the SDK's import builds a client, which raises without credentials:
    no session from it (the caller then builds its own), and no exception out of the lookup."""
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "absent.cfg"))
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    monkeypatch.setitem(sys.modules, "dbruntime", None)
    _fresh_sdk_runtime(monkeypatch)
    assert tables_spark.runtime_spark() is None
