"""`plan` end to end on one machine: a real sqlite MLflow store and real delta-rs tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable
from mlflow import MlflowClient

import alignment_mlflow
from alignment_mlflow import tagkeys
from alignment_mlflow.cli import cli
from conftest import TEMPLATE_SPEC

JSON_KEYS = [
    "rows", "tiers", "total_cost", "currency", "budget", "within_budget", "parity", "run_id",
    "assignments_table", "assignments_version", "timings",
    # the holdout's (issue 26), added after the others
    "campaign", "holdout", "warnings",
]  # fmt: skip


def scores_table(n: int = 2000, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    s = rng.beta(2, 5, n)
    s[:4] = [0.8, 0.5, 1.0, 0.0]  # boundaries
    return pa.table(
        {
            "customer_id": np.arange(n, dtype=np.int64),
            "churn_score": s,
            "segment": rng.choice(["a", "b", "c"], n),
        }
    )


@pytest.fixture
def scores_file(tmp_path: Path) -> Path:
    path = tmp_path / "scores.parquet"
    pq.write_table(scores_table(), path)
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


def test_cli_json_contract_run_and_assignments(scores_file: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    target = str(tmp_path / "assignments")
    args = ["--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--group-column",
            "segment", "--assignments-table", target, "--tracking-uri", db, "--json"]  # fmt: skip
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out) == JSON_KEYS
    assert out["rows"] == 2000
    assert [t["tier"] for t in out["tiers"]] == ["High", "Medium", "Low"]
    assert sum(t["customers"] for t in out["tiers"]) == 2000
    assert out["total_cost"] == pytest.approx(sum(t["cost"] for t in out["tiers"]))
    assert (out["currency"], out["budget"], out["within_budget"]) == ("USD", 50000.0, True)
    assert set(out["parity"]) == {"segment"}
    assert 0 < out["parity"]["segment"] <= 1

    client = MlflowClient(db)
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "/Shared/alignment/customer_churn_prediction"
    assert run.data.params["rows"] == "2000"
    assert run.data.params["scores_digest"]
    assert run.data.metrics["demographic_parity_ratio"] == pytest.approx(
        out["parity"]["segment"], rel=1e-5
    )
    assert run.data.metrics["total_cost"] == pytest.approx(out["total_cost"], rel=1e-5)
    assert run.data.tags["plan.within_budget"] == "true"
    assert run.data.tags["plan.parity_met"] in ("true", "false")
    # The Tags panel: the verdict in two short tags (a plain spec: no link back), tagkeys.
    assert tagkeys.reader_keys(run.data.tags) == ["plan.parity_met", "plan.within_budget"]
    names = {a.path for a in client.list_artifacts(run.info.run_id, "plan")}
    assert {"plan/tiers.json", "plan/parity.json"} <= names

    dt = DeltaTable(target)
    rows = dt.to_pyarrow_table()
    assert rows.num_rows == 2000
    assert set(rows.column("plan_run_id").to_pylist()) == {out["run_id"]}
    by_id = {r["customer_id"]: r for r in rows.to_pylist()}
    assert by_id[0]["tier"] == "Medium"  # 0.8 is Medium
    assert by_id[1]["tier"] == "Medium"  # 0.5 is Medium
    assert by_id[2]["tier"] == "High"
    assert by_id[3]["tier"] == "Low"
    assert by_id[2]["cost"] == 50.0
    assert out["assignments_version"] == dt.version()

    # Same scores and spec: no new run, no new table version.
    again = json.loads(invoke(*args).stdout)
    assert again["run_id"] == out["run_id"]
    assert again["assignments_version"] == out["assignments_version"]
    assert DeltaTable(target).version() == dt.version()
    assert len(client.search_runs([run.info.experiment_id])) == 1

    # New scores replace the project's rows atomically, in one new version.
    pq.write_table(scores_table(1500, seed=9), scores_file)
    third = json.loads(invoke(*args).stdout)
    assert third["run_id"] != out["run_id"]
    assert third["assignments_version"] == out["assignments_version"] + 1
    rows = DeltaTable(target).to_pyarrow_table()
    assert rows.num_rows == 1500
    assert set(rows.column("plan_run_id").to_pylist()) == {third["run_id"]}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"churn_score": [0.1, None, 0.2]}, "1 null scores (first ids: 1)"),
        ({"churn_score": [0.1, float("nan"), 0.2]}, "1 NaN scores (first ids: 1)"),
        ({"churn_score": [0.1, 7.0, 0.2]}, "1 scores outside [0, 1] (first ids: 1)"),
        ({"customer_id": [5, 5, 6]}, "column 'customer_id': 1 duplicate ids"),
    ],
)
def test_bad_scores_exit_2_and_write_nothing(
    tmp_path: Path, change: dict[str, list[Any]], needle: str
) -> None:
    data: dict[str, Any] = {"customer_id": [0, 1, 2], "churn_score": [0.1, 0.5, 0.9]}
    data.update(change)
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({k: pa.array(v) for k, v in data.items()}), path)
    db = tmp_path / "mlflow.db"
    target = tmp_path / "assignments"
    res = invoke("--scores", str(path), "--spec", str(TEMPLATE_SPEC), "--tracking-uri",
                 f"sqlite:///{db}", "--assignments-table", str(target))  # fmt: skip
    assert res.exit_code == 2
    assert needle in res.stderr
    assert not db.exists()
    assert not target.exists()


def test_missing_column_and_empty_scores_exit_2(tmp_path: Path, scores_file: Path) -> None:
    res = invoke("--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--group-column",
                 "region", "--dry-run")  # fmt: skip
    assert res.exit_code == 2
    assert "no group column 'region'" in res.stderr
    empty = tmp_path / "empty.parquet"
    pq.write_table(scores_table().slice(0, 0), empty)
    res = invoke("--scores", str(empty), "--spec", str(TEMPLATE_SPEC), "--dry-run")
    assert res.exit_code == 2
    assert "empty" in res.stderr


def test_dry_run_writes_nothing(scores_file: Path, tmp_path: Path) -> None:
    res = invoke("--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--dry-run",
                 "--assignments-table", str(tmp_path / "a"), "--tracking-uri",
                 f"sqlite:///{tmp_path / 'm.db'}")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "dry run: nothing written" in res.stdout
    assert "Medium" in res.stdout
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "m.db").exists()


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_sqlite_store_without_sqlalchemy_is_refused_before_anything_is_written(
    scores_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    """The sqlite store's SQLAlchemy and Alembic come with the ``sqlite`` extra only: without
    them (an import that fails, as in an environment lacking them) the plan says how to get
    them, exit 2, and writes no store, run or assignments."""
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    args = ["--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--assignments-table",
            str(tmp_path / "a"), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"]  # fmt: skip
    res = invoke(*args, *(["--dry-run"] if dry_run else []))
    assert res.exit_code == 2, res.output
    assert "pip install 'alignment_mlflow[sqlite]'" in res.stderr
    assert "sqlalchemy (not installed)" in res.stderr
    assert "databricks" in res.stderr
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "m.db").exists()


def test_api_accepts_an_arrow_table_and_a_delta_path(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    table = scores_table(500)
    from_arrow = alignment_mlflow.plan(table, str(TEMPLATE_SPEC), dry_run=True)
    write_deltalake(str(tmp_path / "scores_delta"), table)
    from_delta = alignment_mlflow.plan(
        str(tmp_path / "scores_delta"), str(TEMPLATE_SPEC), dry_run=True
    )
    assert from_arrow.economics.tiers == from_delta.economics.tiers
    assert from_arrow.engine == from_delta.engine == "arrow"


def test_over_budget_reports_the_allocation(tmp_path: Path) -> None:
    from _specs import spec_data

    data = spec_data()
    data["business_context"]["budget_constraints"] = "$2k per month"
    result = alignment_mlflow.plan(scores_table(), data, dry_run=True)
    e = result.economics
    assert e.within_budget is False
    assert e.allocation is not None
    assert e.allocation.cost <= 2000
    assert e.allocation.tiers_in_full == ("High",)
    assert e.allocation.partial_tier == "Medium"
    assert any("within budget: High in full" in line for line in result.summary_lines())


def test_a_parquet_folder_of_parts(tmp_path: Path) -> None:
    folder = tmp_path / "scores"
    folder.mkdir()
    t = scores_table(1000)
    pq.write_table(t.slice(0, 400), folder / "part-0.parquet")
    pq.write_table(t.slice(400), folder / "part-1.parquet")
    result = alignment_mlflow.plan(str(folder), str(TEMPLATE_SPEC), dry_run=True)
    assert result.economics.rows == 1000
    assert result.scores_location == str(folder)


def test_the_bundled_example_scores() -> None:
    scores = TEMPLATE_SPEC.parent / "scores" / "churn_scores.parquet"
    result = alignment_mlflow.plan(
        str(scores), str(TEMPLATE_SPEC), group_columns=["segment"], dry_run=True
    )
    out = result.to_json()
    assert out["rows"] == 5000
    assert [t["customers"] for t in out["tiers"]] == [6, 427, 4567]
    assert out["total_cost"] == 6853.5
    assert out["within_budget"] is True
    assert result.economics.parity_met is False  # the example shows a fairness gap


def test_parts_with_different_numeric_types_are_read_file_by_file(tmp_path: Path) -> None:
    # The local engine reads plain Parquet file by file (bounded memory); parts written with
    # narrower types must still be one population, typed as the dataset is.
    folder = tmp_path / "scores"
    folder.mkdir()
    t = scores_table(1000)
    pq.write_table(t.slice(0, 600), folder / "part-0.parquet")
    narrow = t.slice(600).cast(
        pa.schema([("customer_id", pa.int32()), ("churn_score", pa.float32()),
                   ("segment", pa.string())])
    )  # fmt: skip
    pq.write_table(narrow, folder / "part-1.parquet")
    target = tmp_path / "assignments"
    result = alignment_mlflow.plan(
        str(folder), str(TEMPLATE_SPEC), assignments_table=str(target),
        tracking_uri=f"sqlite:///{tmp_path / 'm.db'}",
    )  # fmt: skip
    assert result.economics.rows == 1000
    rows = DeltaTable(str(target)).to_pyarrow_table()
    assert rows.schema.field("customer_id").type == pa.int64()
    assert sorted(rows.column("customer_id").to_pylist()) == list(range(1000))


@pytest.mark.parametrize("target", ["/Volumes/main/churn/vol/assignments", "dbfs:/tmp/a"])
def test_on_databricks_the_assignments_table_must_be_a_table_name(
    scores_file: Path, tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delta-rs cannot commit through the volume mount (rename/hard link: ENOSYS,
    delta-io/delta-rs#2540): refused before the MLflow run, naming the table form."""
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "client.4.0")
    db = tmp_path / "m.db"
    res = invoke("--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--tracking-uri",
                 f"sqlite:///{db}", "--assignments-table", target)  # fmt: skip
    assert res.exit_code == 2
    assert "--assignments-table catalog.schema.table" in res.stderr
    assert not db.exists()
