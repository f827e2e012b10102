"""The Spark paths end to end on real Delta, on each kind of session Databricks gives a job:
classic, Spark Connect (serverless and standard access are Connect only), and serverless-like
(Connect with session confs refused, mlflow/mlflow#16134)."""

from __future__ import annotations

from typing import Any

import pytest

from _spark_paths import SparkPaths

pytestmark = pytest.mark.spark


class TestClassic(SparkPaths):
    @pytest.fixture
    def spark(self, classic_spark: Any, classic_mode: None) -> Any:
        return classic_spark


class TestConnect(SparkPaths):
    @pytest.fixture
    def spark(self, connect_spark: Any, connect_mode: None) -> Any:
        return connect_spark


class TestServerless(SparkPaths):
    @pytest.fixture
    def spark(self, connect_spark: Any, serverless_mode: None) -> Any:
        return connect_spark

    def test_the_session_refuses_confs_outside_the_allow_list(self, spark: Any) -> None:
        from pyspark.errors import AnalysisException

        with pytest.raises(AnalysisException, match="CONFIG_NOT_AVAILABLE"):
            spark.conf.get("spark.databricks.delta.commitInfo.userMetadata", None)
        with pytest.raises(AnalysisException, match="CONFIG_NOT_AVAILABLE"):
            spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", "x")
        assert spark.conf.get("spark.sql.session.timeZone")
