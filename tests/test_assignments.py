"""The assignments table writer: streamed Parquet files committed with delta-rs' transaction API.

Real delta-rs tables on disk; every table is read back through delta-rs (and its files through
plain pyarrow), so what a reader sees is what is asserted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable

from alignment_mlflow.bands.table import band_table
from alignment_mlflow.cli import cli
from alignment_mlflow.economics import arrow_engine, assignments
from alignment_mlflow.errors import TargetError
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

SPEC = load_spec(TEMPLATE_SPEC)
TABLE = band_table(SPEC)


def _constants(project: str = "churn", run_id: str = "a" * 32) -> dict[str, Any]:
    return {
        "project": project,
        "currency": TABLE.currency,
        "spec_sha256": SPEC.sha256,
        "plan_run_id": run_id,
        "scored_at": datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc),
    }


def _scores(n: int, seed: int = 1, id_type: pa.DataType | None = None) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = pa.array(np.arange(n, dtype=np.int64)).cast(id_type or pa.int64())
    return pa.table({"customer_id": ids, "churn_score": rng.random(n)})


def _reader(scores: pa.Table, constants: dict[str, Any]) -> pa.RecordBatchReader:
    src = arrow_engine.open_scores(scores)
    return arrow_engine.assignment_batches(
        src, TABLE, id_column="customer_id", score_column="churn_score", constants=constants,
        schema=assignments.arrow_schema(scores.schema.field("customer_id").type),
    )  # fmt: skip


def _write(uri: Path, scores: pa.Table, **constants: Any) -> int:
    c = _constants(**constants)
    return assignments.write(
        str(uri), _reader(scores, c), project=c["project"], commit_metadata={"k": "v"}
    )


def _log(uri: Path, version: int) -> list[dict[str, Any]]:
    text = (uri / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _parquet_files(uri: Path) -> set[Path]:
    return set(uri.rglob("*.parquet"))


def test_rows_read_back_with_plain_types_tiers_and_the_table_metadata(tmp_path: Path) -> None:
    uri = tmp_path / "assignments"
    scores = _scores(3000)
    assert _write(uri, scores) == 0
    dt = DeltaTable(str(uri))
    assert dt.metadata().partition_columns == ["project"]
    assert dt.metadata().name == "churn_assignments"
    got = pa.table(dt.to_pyarrow_dataset().to_table())
    assert got.schema.field("tier").type == pa.string()  # not the stream's dictionary
    assert got.schema.field("customer_id").type == pa.int64()
    assert got.num_rows == 3000
    rows = {r["customer_id"]: r for r in got.to_pylist()}
    expected = arrow_engine.band_index(TABLE, scores.column("churn_score").to_numpy())
    for cid in (0, 1, 1234, 2999):
        band = TABLE.bands[expected[cid]]
        assert rows[cid]["tier"] == band.tier
        assert rows[cid]["tier_rank"] == band.rank
        assert rows[cid]["cost"] == band.cost
        assert rows[cid]["project"] == "churn"
        assert rows[cid]["plan_run_id"] == "a" * 32
    comments = {f.name: f.metadata.get("comment") for f in dt.schema().fields}
    assert comments["tier_rank"] == "1 = highest churn risk"
    commit = _log(uri, 0)[0]["commitInfo"]
    assert commit["k"] == "v"


def test_files_roll_at_file_rows_into_one_commit_with_stats_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assignments, "FILE_ROWS", 1000)
    monkeypatch.setattr(arrow_engine, "BATCH_ROWS", 400)
    uri = tmp_path / "a"
    scores = _scores(2500)
    _write(uri, scores)
    adds = [a["add"] for a in _log(uri, 0) if "add" in a]
    # Two writers take the 400-row batches in turn; each rolls before passing 1000 rows.
    assert len(adds) == 4
    assert sorted(json.loads(a["stats"])["numRecords"] for a in adds) == [400, 500, 800, 800]
    for add in adds:
        stats = json.loads(add["stats"])
        file = pq.ParquetFile(uri / add["path"])
        data = file.read()
        assert stats["numRecords"] == data.num_rows
        assert stats["minValues"]["customer_id"] == min(data.column("customer_id").to_pylist())
        assert stats["maxValues"]["churn_score"] == max(data.column("churn_score").to_pylist())
        assert stats["nullCount"]["tier"] == 0
        assert add["partitionValues"] == {"project": "churn"}
        # Plain Parquet: no Arrow schema hint, strings as strings, no partition column inside.
        assert b"ARROW:schema" not in (file.metadata.metadata or {})
        assert "project" not in data.column_names
        assert data.schema.field("tier").type == pa.string()


def test_a_rewrite_replaces_only_its_project_in_one_version(tmp_path: Path) -> None:
    uri = tmp_path / "a"
    _write(uri, _scores(300), project="one")
    _write(uri, _scores(200), project="two")
    v = _write(uri, _scores(100, seed=5), project="one", run_id="b" * 32)
    assert v == 2
    data = DeltaTable(str(uri)).to_pyarrow_table()
    by_project: dict[str, set[str]] = {}
    for r in data.select(["project", "plan_run_id"]).to_pylist():
        by_project.setdefault(r["project"], set()).add(r["plan_run_id"])
    assert by_project == {"one": {"b" * 32}, "two": {"a" * 32}}
    assert data.num_rows == 300
    actions = _log(uri, 2)
    removed = [a["remove"]["path"] for a in actions if "remove" in a]
    assert removed
    assert all(p.startswith("project=one/") for p in removed)


def test_a_project_name_that_needs_escaping(tmp_path: Path) -> None:
    uri = tmp_path / "a"
    name = "churn 50%/eu"
    _write(uri, _scores(50), project=name)
    _write(uri, _scores(40), project=name)
    rows = DeltaTable(str(uri)).to_pyarrow_table(filters=[("project", "=", name)])
    assert rows.num_rows == 40
    assert [p.name for p in uri.iterdir() if p.name.startswith("project=")] == [
        "project=churn%2050%25%2Feu"
    ]


def test_a_failure_mid_stream_commits_nothing_and_leaves_no_files(tmp_path: Path) -> None:
    uri = tmp_path / "a"
    _write(uri, _scores(100))
    before = _parquet_files(uri)
    c = _constants(run_id="c" * 32)
    good = _reader(_scores(5000), c)

    def failing() -> Iterator[pa.RecordBatch]:
        for i, batch in enumerate(good):
            if i == 2:
                raise OSError("disk full")
            yield batch

    reader = pa.RecordBatchReader.from_batches(good.schema, failing())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(arrow_engine, "BATCH_ROWS", 1000)
        with pytest.raises(OSError, match="disk full"):
            assignments.write(str(uri), reader, project="churn", commit_metadata={})
    assert DeltaTable(str(uri)).version() == 0
    assert _parquet_files(uri) == before


def test_a_failing_commit_removes_the_files_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deltalake.transaction

    uri = tmp_path / "a"

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("commit refused")

    monkeypatch.setattr(deltalake.transaction, "create_table_with_add_actions", refuse)
    with pytest.raises(RuntimeError, match="commit refused"):
        _write(uri, _scores(100))
    assert _parquet_files(uri) == set()


def test_check_target_refuses_a_table_of_another_shape(tmp_path: Path) -> None:
    uri = tmp_path / "a"
    _write(uri, _scores(10))
    assignments.check_target(str(uri), pa.int64())  # the same shape: fine
    with pytest.raises(TargetError, match="customer_id is long there, string here"):
        assignments.check_target(str(uri), pa.string())
    from deltalake import write_deltalake

    other = tmp_path / "other"
    write_deltalake(str(other), pa.table({"x": [1]}))
    with pytest.raises(
        TargetError, match=r"x is long there, not one of ours here; .*partitioned by nothing"
    ):
        assignments.check_target(str(other), pa.int64())
    assignments.check_target(str(tmp_path / "new"), pa.int64())  # no table yet: fine


def test_plan_refuses_an_incompatible_assignments_table_before_any_run(tmp_path: Path) -> None:
    uri = tmp_path / "a"
    _write(uri, _scores(10))
    scores = tmp_path / "s.parquet"
    pq.write_table(_scores(20, id_type=pa.string()), scores)
    db = tmp_path / "m.db"
    for extra in ([], ["--dry-run"]):
        res = CliRunner().invoke(cli, [
            "plan", "--scores", str(scores), "--spec", str(TEMPLATE_SPEC),
            "--assignments-table", str(uri), "--tracking-uri", f"sqlite:///{db}", *extra,
        ])  # fmt: skip
        assert res.exit_code == 2, res.output
        assert "cannot take these assignments: customer_id is long there, string here" in res.stderr
    assert not db.exists()
    assert DeltaTable(str(uri)).version() == 0


def test_cloud_uris_keep_write_deltalake_and_both_writers_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cloud URI is written by delta-rs' own writer (its object stores, its credentials); run
    # that branch on a local table so its result can be compared with the streamed files'.
    streamed, fallback = tmp_path / "streamed", tmp_path / "fallback"
    first, second = _scores(700, seed=2), _scores(300, seed=3)
    for uri in (streamed, fallback):
        with monkeypatch.context() as mp:
            if uri == fallback:
                mp.setattr(assignments, "_local_root", lambda uri: None)
            _write(uri, first, project="one")
            _write(uri, first, project="two")
            assert _write(uri, second, project="one", run_id="d" * 32) == 2

    def rows(uri: Path) -> list[dict[str, Any]]:
        table = DeltaTable(str(uri)).to_pyarrow_table()
        return sorted(table.to_pylist(), key=lambda r: (r["project"], r["customer_id"]))

    assert rows(streamed) == rows(fallback)
    assert len(rows(streamed)) == 1000
    assert not (streamed / "_delta_log" / "00000000000000000003.json").exists()
    operations = [_log(uri, 0)[0]["commitInfo"]["operation"] for uri in (streamed, fallback)]
    assert operations[0] != operations[1]  # both branches ran


def test_a_commit_that_lands_and_then_raises_keeps_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A post-commit hook (a checkpoint) can fail after the commit is durable: the files are the
    # table's then, and deleting them would break it.
    import deltalake.transaction

    real = deltalake.transaction.create_table_with_add_actions

    def commit_then_fail(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise RuntimeError("checkpoint failed")

    monkeypatch.setattr(deltalake.transaction, "create_table_with_add_actions", commit_then_fail)
    uri = tmp_path / "a"
    with pytest.raises(RuntimeError, match="checkpoint failed"):
        _write(uri, _scores(100))
    assert DeltaTable(str(uri)).to_pyarrow_table().num_rows == 100
