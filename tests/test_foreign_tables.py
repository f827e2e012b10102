"""A table that is not ours is refused, exit 2, before any write (issue 23): the tiers table and
the plan's assignments table, on delta-rs paths and through Spark (the classic session).

Without the check another tool's table was altered (15 columns added to a table with a NOT
NULL column of its own, then the MERGE failed after the MLflow run opened), a string
``tier_rank`` silently received strings, and an unrelated table failed as "reading ... failed"
(exit 1)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

import alignment_mlflow
from alignment_mlflow.errors import TargetError
from alignment_mlflow.spec import load_spec
from alignment_mlflow.tiers import delta_rs
from alignment_mlflow.tiers.writer import write_tiers
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CLEAN = "subscription_clean_408768_findings.yaml"


def _findings(tmp: Path) -> Path:
    folder = tmp / "findings"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / CLEAN, folder / CLEAN)
    return folder / CLEAN


def _our_schema_with(name: str, kind: pa.DataType) -> pa.Schema:
    return pa.schema([f.with_type(kind) if f.name == name else f for f in delta_rs.arrow_schema()])


FOREIGN_TIERS: dict[str, pa.Table] = {
    "not-null-column-of-its-own": pa.table(
        {"project": ["x"], "tier": ["High"], "owner_id": [7]},
        schema=pa.schema(
            [
                ("project", pa.string()),
                ("tier", pa.string()),
                pa.field("owner_id", pa.int64(), nullable=False),
            ]
        ),
    ),
    "string-tier_rank": pa.Table.from_pylist([], schema=_our_schema_with("tier_rank", pa.string())),
    "unrelated": pa.table({"x": [1, 2, 3]}),
}


@pytest.mark.parametrize("kind", list(FOREIGN_TIERS))
def test_a_foreign_tiers_table_is_refused_before_any_write(tmp_path: Path, kind: str) -> None:
    findings = _findings(tmp_path)
    before = findings.read_bytes()
    table = tmp_path / "tiers"
    write_deltalake(str(table), FOREIGN_TIERS[kind])
    schema = DeltaTable(str(table)).schema().to_json()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(TargetError, match="not an intervention-tiers table") as exc:
        alignment_mlflow.align(findings, TEMPLATE_SPEC, tiers_table=str(table), tracking_uri=uri)
    assert exc.value.exit_code == 2
    assert "nothing was written" in str(exc.value)
    after = DeltaTable(str(table))
    assert (after.version(), after.schema().to_json()) == (0, schema)  # never altered
    assert not (tmp_path / "mlflow.db").exists()  # no MLflow run
    assert findings.read_bytes() == before
    spec = load_spec(TEMPLATE_SPEC)
    with pytest.raises(TargetError):  # write_tiers called on its own refuses it too
        write_tiers(str(table), spec, findings_path="f", run_id="r")
    assert DeltaTable(str(table)).version() == 0


def _scores(tmp: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(4)
    path = tmp / "scores.parquet"
    pq.write_table(
        pa.table({"customer_id": np.arange(n, dtype=np.int64), "churn_score": rng.random(n)}), path
    )
    return path


def test_a_foreign_assignments_table_is_refused_before_any_write(tmp_path: Path) -> None:
    table = tmp_path / "assignments"
    write_deltalake(str(table), pa.table({"project": ["x"], "owner_id": [7]}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(TargetError, match="cannot take these assignments") as exc:
        alignment_mlflow.plan(
            str(_scores(tmp_path)), str(TEMPLATE_SPEC), assignments_table=str(table),
            tracking_uri=uri,
        )  # fmt: skip
    assert exc.value.exit_code == 2
    assert DeltaTable(str(table)).version() == 0
    assert not (tmp_path / "mlflow.db").exists()


# --------------------------------------------------------------------------- Spark


def _schema(spark: Any, prefix: str) -> str:
    name = f"spark_catalog.{prefix}_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {name}")
    return name


def _history(spark: Any, table: str) -> list[int]:
    return [int(r["version"]) for r in spark.sql(f"DESCRIBE HISTORY {table}").collect()]


FOREIGN_TIERS_SQL = {
    "not-null-column-of-its-own": "(project STRING, tier STRING, owner_id INT NOT NULL)",
    "string-tier_rank": None,  # our DDL with tier_rank STRING
    "unrelated": "(x INT)",
}


@pytest.mark.spark
@pytest.mark.parametrize("kind", list(FOREIGN_TIERS_SQL))
def test_a_foreign_tiers_table_name_is_refused_before_any_write(
    classic_spark: Any, tmp_path: Path, kind: str
) -> None:
    from alignment_mlflow.tiers.schema import parse_table_name, spark_create_table_sql

    spark = classic_spark
    table = f"{_schema(spark, 'foreign')}.intervention_tiers"
    columns = FOREIGN_TIERS_SQL[kind]
    if columns is None:
        ddl = spark_create_table_sql(parse_table_name(table))
        spark.sql(ddl.replace("`tier_rank` INT", "`tier_rank` STRING"))
    else:
        spark.sql(f"CREATE TABLE {table} {columns} USING DELTA")
    columns_before = spark.table(table).schema.simpleString()
    findings = _findings(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(TargetError, match="not an intervention-tiers table") as exc:
        alignment_mlflow.align(
            findings, TEMPLATE_SPEC, tiers_table=table, tracking_uri=uri, spark=spark
        )
    assert exc.value.exit_code == 2
    assert _history(spark, table) == [0]
    assert spark.table(table).schema.simpleString() == columns_before
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.spark
def test_a_foreign_assignments_table_name_is_refused_before_any_write(
    classic_spark: Any, tmp_path: Path
) -> None:
    spark = classic_spark
    table = f"{_schema(spark, 'foreign')}.churn_assignments"
    spark.sql(f"CREATE TABLE {table} (project STRING, owner_id INT NOT NULL) USING DELTA")
    scores = spark.read.parquet(str(_scores(tmp_path)))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(TargetError, match="cannot take these assignments") as exc:
        alignment_mlflow.plan(scores, str(TEMPLATE_SPEC), assignments_table=table, tracking_uri=uri)
    assert exc.value.exit_code == 2
    assert _history(spark, table) == [0]
    assert not (tmp_path / "mlflow.db").exists()
