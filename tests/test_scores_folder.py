"""A scores folder is read as a Parquet reader reads it, with one type per column (issue 23).

Each case is checked through the CLI before anything is written: exit 2, no MLflow run, no
assignments table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import write_deltalake

from alignment_mlflow.cli import cli
from alignment_mlflow.economics import arrow_engine
from conftest import TEMPLATE_SPEC


def _part(path: Path, ids: pa.Array, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pq.write_table(pa.table({"customer_id": ids, "churn_score": rng.random(len(ids))}), path)


def _plan(tmp_path: Path, scores: Path) -> tuple[int, dict[str, object], Path, Path]:
    db = tmp_path / "mlflow.db"
    target = tmp_path / "out" / "assignments"
    res = CliRunner().invoke(
        cli,
        [
            "plan",
            "--scores",
            str(scores),
            "--spec",
            str(TEMPLATE_SPEC),
            "--json",
            "--tracking-uri",
            f"sqlite:///{db}",
            "--assignments-table",
            str(target),
        ],
    )
    return res.exit_code, json.loads(res.stdout), db, target


def test_writers_leftovers_and_nested_tables_are_not_scores(tmp_path: Path) -> None:
    scores = tmp_path / "scores"
    _part(scores / "part-0.parquet", pa.array(range(100)))
    _part(scores / "day=1" / "part-1.parquet", pa.array(range(100, 150)))
    # Spark's uncommitted attempts and a staging folder hold the same customers again
    _part(scores / "_temporary" / "0" / "part-0.parquet", pa.array(range(100)))
    _part(scores / ".staging" / "part-0.parquet", pa.array(range(100)))
    _part(scores / "_SUCCESS.parquet", pa.array(range(5)))
    # a Delta table inside the folder (last month's assignments, say) is not scores
    write_deltalake(str(scores / "assignments"), pa.table({"customer_id": list(range(100))}))
    src = arrow_engine.open_scores(scores)
    assert [Path(f).relative_to(scores).as_posix() for f in src.dataset.files] == [
        "day=1/part-1.parquet",
        "part-0.parquet",
    ]
    code, out, _, _ = _plan(tmp_path, scores)
    assert code == 0, out
    assert out["rows"] == 150


@pytest.mark.parametrize(
    ("first", "second", "needle"),
    [
        (pa.array([1, 2], pa.int64()), pa.array(["1", "3"]), "types that do not mix"),
        (pa.array([1, 2], pa.int64()), pa.array([1.0, 3.0]), "types that do not mix"),
        (pa.array([2**63 - 1], pa.uint64()), pa.array([1], pa.int64()), "do not mix"),
    ],
    ids=["int-and-string", "int-and-double", "uint64-and-int64"],
)
def test_id_types_that_do_not_mix_are_refused_before_any_write(
    tmp_path: Path, first: pa.Array, second: pa.Array, needle: str
) -> None:
    scores = tmp_path / "scores"
    _part(scores / "a.parquet", first)
    _part(scores / "b.parquet", second, seed=1)
    code, out, db, target = _plan(tmp_path, scores)
    assert code == 2, out
    assert needle in out["error"]
    assert "customer_id" in out["error"]
    assert "a.parquet" in out["error"]
    assert "b.parquet" in out["error"]
    assert not db.exists() or b"plan" not in db.read_bytes()
    assert not target.exists()


def test_int32_then_int64_ids_beyond_2_31_are_one_id_type(tmp_path: Path) -> None:
    scores = tmp_path / "scores"
    _part(scores / "a.parquet", pa.array([1, 2, 3], pa.int32()))
    _part(scores / "b.parquet", pa.array([2**40, 2**40 + 1, 3], pa.int64()), seed=1)
    code, out, _, target = _plan(tmp_path, scores)
    assert code == 2, out
    assert "1 duplicate ids" in out["error"]  # 3 is in both files
    assert not target.exists()
    pq.write_table(
        pa.table(
            {"customer_id": pa.array([2**40, 2**40 + 1], pa.int64()), "churn_score": [0.1, 0.9]}
        ),
        scores / "b.parquet",
    )
    code, out, _, target = _plan(tmp_path, scores)
    assert code == 0, out
    assert out["rows"] == 5
    from deltalake import DeltaTable

    got = DeltaTable(str(target)).to_pyarrow_table()
    assert got.schema.field("customer_id").type == pa.int64()
    assert sorted(got.column("customer_id").to_pylist()) == [1, 2, 3, 2**40, 2**40 + 1]


def test_a_file_without_the_score_column_is_named(tmp_path: Path) -> None:
    scores = tmp_path / "scores"
    _part(scores / "a.parquet", pa.array([1, 2]))
    pq.write_table(pa.table({"customer_id": [3, 4]}), scores / "b.parquet")
    code, out, _, target = _plan(tmp_path, scores)
    assert code == 2, out
    assert "'churn_score' is missing from b.parquet" in out["error"]
    assert not target.exists()


def _scores_with(tmp_path: Path, group: pa.Array) -> Path:
    path = tmp_path / "grouped.parquet"
    n = len(group)
    pq.write_table(
        pa.table({"customer_id": np.arange(n), "churn_score": np.linspace(0, 1, n), "g": group}),
        path,
    )
    return path


@pytest.mark.parametrize(
    ("group_column", "group", "needle"),
    [
        ("customer_id", pa.array(["a"] * 10), "'customer_id' is the id column"),
        ("g", pa.array([f"id-{i}" for i in range(1_500)]), "more than 1,000 distinct values"),
        ("g", pa.array([{"x": 1}] * 10), "is struct<x: int64>: pass a column of plain labels"),
        ("g", pa.array([[1]] * 10), "pass a column of plain labels"),
    ],
    ids=["id-column", "too-many-labels", "struct", "list"],
)
def test_group_columns_that_are_not_segments_are_refused(
    tmp_path: Path, group_column: str, group: pa.Array, needle: str
) -> None:
    scores = _scores_with(tmp_path, group)
    db = tmp_path / "mlflow.db"
    res = CliRunner().invoke(
        cli,
        ["plan", "--scores", str(scores), "--spec", str(TEMPLATE_SPEC), "--json",
         "--tracking-uri", f"sqlite:///{db}", "--group-column", group_column],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert needle in json.loads(res.stdout)["error"]
    assert not db.exists() or b"demographic_parity" not in db.read_bytes()


def test_a_thousand_labels_are_still_a_group(tmp_path: Path) -> None:
    scores = _scores_with(tmp_path, pa.array([f"s{i % 1000}" for i in range(3000)]))
    res = CliRunner().invoke(
        cli,
        ["plan", "--scores", str(scores), "--spec", str(TEMPLATE_SPEC), "--json",
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--group-column", "g"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("damage", ["page header", "data page"])
def test_a_corrupt_parquet_page_is_exit_2_naming_the_file(tmp_path: Path, damage: str) -> None:
    """Issue 23: a damaged page was an "unexpected OSError" (exit 1) from the middle of the scan."""
    path = tmp_path / "scores.parquet"
    n = 50_000
    rng = np.random.default_rng(23)
    table = pa.table({"customer_id": np.arange(n), "churn_score": rng.random(n)})
    pq.write_table(table, path, compression="none")
    raw = bytearray(path.read_bytes())
    column = pq.ParquetFile(path).metadata.row_group(0).column(1)
    start = 4 if damage == "page header" else column.data_page_offset
    raw[start : start + 30] = b"\xff" * 30 if damage == "page header" else bytes(30)
    path.write_bytes(bytes(raw))
    code, out, db, target = _plan(tmp_path, path)
    assert code == 2, out
    assert out["error_type"] == "ScoresError"
    assert "scores.parquet cannot be read" in out["error"]
    assert "corrupt or truncated Parquet file" in out["error"]
    assert not db.exists()
    assert not target.exists()
