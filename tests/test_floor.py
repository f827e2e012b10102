"""The shared floor: one Spark session lookup and one way to create an experiment, whichever
room (align, plan) needs them."""

from __future__ import annotations

from pathlib import Path

import pytest

import alignment_mlflow
from alignment_mlflow.errors import TargetError
from conftest import REPO, TEMPLATE_SPEC

SCORES = REPO / "examples" / "scores" / "churn_scores.parquet"


def test_plan_finds_its_session_the_way_the_tiers_writer_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Off a cluster, with no active session, a table name is refused by ``plan`` with the same
    ways out as by ``align``: the lookup includes Databricks Connect (it did not)."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    # The suite's session-wide Spark sessions may be active in this process: none for this test.
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    with pytest.raises(TargetError, match="install databricks-connect") as info:
        alignment_mlflow.plan("main.churn.scores", str(TEMPLATE_SPEC), dry_run=True)
    assert "scores main.churn.scores is a table name, which needs a Spark session" in str(
        info.value
    )


def test_a_plan_experiment_keeps_its_artifacts_beside_the_sqlite_store(tmp_path: Path) -> None:
    """As the alignment's experiment does: not in ``./mlruns`` of whatever folder ran it."""
    from mlflow import MlflowClient

    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    result = alignment_mlflow.plan(
        str(SCORES), str(TEMPLATE_SPEC), tracking_uri=uri, experiment="/Shared/floor/plan"
    )
    exp = MlflowClient(uri).get_experiment(result.experiment_id)
    assert exp.artifact_location == (store / "mlartifacts").resolve().as_uri()
    assert any((store / "mlartifacts").rglob("*.json"))  # the plan's tables
    assert not (tmp_path / "mlruns").exists()


def test_one_version_source() -> None:
    """pyproject.toml reads the version alignment_mlflow.__version__ re-exports: the installed
    metadata and the module cannot disagree."""
    import importlib.metadata

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert importlib.metadata.version("alignment_mlflow") == alignment_mlflow.__version__
