"""The one way a Spark session is found, for every room that reads or writes a table by name
(the tiers, the plan's scores and assignments): passed in; the active one; on Databricks the
runtime's, taken as Databricks' own templates do from ``databricks.sdk.runtime`` (a wheel task
has one to attach to, not yet an active one); off a cluster Databricks Connect's when it is
installed. Cheap to import: pyspark loads only when a session is needed."""

from __future__ import annotations

import importlib
import os
from typing import Any

from alignment_mlflow.errors import TargetError


def session_for(what: str, spark: Any = None, *, instead: str = "pass a path instead") -> Any:
    """The session ``what`` (a table name the user gave) is read or written with, found before
    anything is written; a ``TargetError`` saying how to get one when there is none."""
    if spark is not None:
        return spark
    session = active_spark() or databricks_spark()
    if session is None:
        raise TargetError(
            f"{what} is a table name, which needs a Spark session: run on a Databricks cluster "
            f"or job, install databricks-connect to use one from a laptop, or {instead}"
        )
    return session


def active_spark() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def databricks_spark() -> Any:
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        session = runtime_spark()
        if session is not None:
            return session
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()
    try:
        from databricks.connect import DatabricksSession
    except ImportError:
        return None
    try:
        return DatabricksSession.builder.getOrCreate()
    except Exception as exc:
        raise TargetError(
            f"Databricks Connect could not start a session ({exc}); set DATABRICKS_HOST and "
            "DATABRICKS_CLUSTER_ID or DATABRICKS_SERVERLESS_COMPUTE_ID=auto, or pass a path"
        ) from exc


def runtime_spark() -> Any:
    """``databricks.sdk.runtime.spark``: the runtime's own session on a classic cluster, Databricks
    Connect's on a Spark Connect one. ``None`` when the SDK cannot provide it: its import builds a
    workspace client (and raises without credentials) wherever the runtime's namespace is absent,
    and leaves ``spark`` unset when no session can be made; the caller then builds one itself."""
    try:
        runtime = importlib.import_module("databricks.sdk.runtime")
    except Exception:
        return None
    return getattr(runtime, "spark", None)
