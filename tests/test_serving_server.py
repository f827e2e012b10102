"""``serve`` against the session's real `mlflow server` over REST: the wrapper registers, loads
with ``mlflow.pyfunc.load_model`` from the registry and predicts; a rerun registers nothing; with
a Spark session at hand ``--sql-function`` creates the function, which then tiers like the
served model."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from _gate_model import TrainedModel, _uris, train_and_register
from alignment_mlflow.bands.table import band_table
from alignment_mlflow.cli import cli
from alignment_mlflow.serving import core, serve
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

pytestmark = pytest.mark.mlflow_server

TABLE = band_table(load_spec(TEMPLATE_SPEC))


@pytest.fixture(scope="module")
def model(mlflow_server: str) -> TrainedModel:
    name = f"serve_{uuid.uuid4().hex[:8]}"  # the server is shared by the whole session
    return train_and_register(mlflow_server, name=name, latency_s=0.05)


def test_the_wrapper_registers_loads_and_predicts_over_rest(
    mlflow_server: str, model: TrainedModel
) -> None:
    import mlflow.pyfunc

    first = serve(TEMPLATE_SPEC, model_version=model.uri, tracking_uri=mlflow_server)
    assert first.registered
    assert first.model_version == f"models:/{model.name}_tiered/1"
    rows = np.random.default_rng(8).normal(size=(32, 8))
    with _uris(mlflow_server, mlflow_server):
        served = mlflow.pyfunc.load_model(first.model_version).predict(rows)
    assert served["tier"].tolist() == [TABLE.bands[TABLE.tier_of(s)].tier for s in served["score"]]
    assert set(served["spec_sha256"]) == {first.spec_sha256}

    again = serve(TEMPLATE_SPEC, model_version=model.uri, tracking_uri=mlflow_server)
    assert (again.registered, again.model_version) == (False, first.model_version)
    versions = MlflowClient(mlflow_server).search_model_versions(f"name = '{model.name}_tiered'")
    assert len(versions) == 1
    assert versions[0].tags[core.TAG_INNER] == model.uri


@pytest.mark.spark
def test_the_sql_function_is_created_with_a_spark_session(
    mlflow_server: str, model: TrainedModel, classic_spark: Any
) -> None:
    function = f"spark_catalog.default.churn_tier_{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(
        cli,
        [
            "serve", "--spec", str(TEMPLATE_SPEC), "--model-version", model.uri,
            "--tracking-uri", mlflow_server, "--register-as", f"{model.name}_sql",
            "--sql-function", function, "--json",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["sql_function"]["created"] is True
    assert out["sql_function"]["name"] == function
    assert out["sql_function"]["statement"].startswith("CREATE OR REPLACE FUNCTION ")
    got = classic_spark.sql(
        f"SELECT {function}(0.8D), {function}(CAST(0.8 AS FLOAT)), {function}(0.1D), "
        f"{function}(NULL), {function}(CAST('NaN' AS DOUBLE))"
    ).collect()[0]
    assert list(got) == ["Medium", "High", "Low", None, None]
