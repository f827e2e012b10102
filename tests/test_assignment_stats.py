"""What the assignments writer commits must be true for every reader (issue 23).

The file statistics once carried min/max for the numeric columns only; delta-rs then read every
other column of the file as null, so filters on ``tier`` or ``plan_run_id`` matched nothing, and
``plan`` decided from such a filter that the table was "unchanged" and kept last month's tiers.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient

from alignment_mlflow.cli import cli
from alignment_mlflow.economics import assignments
from alignment_mlflow.economics.filestats import MAX_STRING_BOUND, FileStats
from conftest import TEMPLATE_SPEC
from test_assignments import _constants, _reader, _scores

_NAME = "Customer Churn Prediction"


def _write(uri: Path, scores: pa.Table, **constants: Any) -> int:
    """A plan's write as ``plan`` makes it: the commit names the project and the run."""
    c = _constants(**constants)
    meta = {"plan_run_id": c["plan_run_id"], "project": c["project"], "spec_sha256": "s"}
    return assignments.write(
        str(uri), _reader(scores, c), project=c["project"], commit_metadata=meta
    )


def _values(table: pa.Table, name: str) -> list[Any]:
    return sorted(set(table.column(name).to_pylist()), key=repr)


@pytest.mark.parametrize("id_type", [pa.int64(), pa.string()], ids=str)
def test_a_filter_on_any_column_finds_the_rows_it_names(tmp_path: Path, id_type: Any) -> None:
    uri = tmp_path / "assignments"
    _write(uri, _scores(3000, id_type=id_type))
    _write(uri, _scores(500, seed=2, id_type=id_type), project="other", run_id="b" * 32)
    table = DeltaTable(str(uri))
    everything = table.to_pyarrow_table()
    dataset = table.to_pyarrow_dataset()
    for name in everything.column_names:
        # `= null` matches no row (campaign is null without --campaign)
        values = [v for v in _values(everything, name) if v is not None]
        for value in values[:3] + values[-3:]:
            want = everything.filter(pc_equal(everything, name, value)).num_rows
            assert want > 0
            got = table.to_pyarrow_table(filters=[(name, "=", value)]).num_rows
            assert got == want, f"DeltaTable filter {name} = {value!r}"
            assert dataset.count_rows(filter=ds.field(name) == value) == want, name


def pc_equal(table: pa.Table, name: str, value: Any) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    return pc.equal(table.column(name), pa.scalar(value, table.schema.field(name).type))


def test_stats_state_bounds_for_every_column_and_true_null_counts(tmp_path: Path) -> None:
    uri = tmp_path / "assignments"
    _write(uri, _scores(1000))
    log = (uri / "_delta_log" / f"{0:020d}.json").read_text().splitlines()
    adds = [json.loads(line)["add"] for line in log if '"add"' in line]
    columns = set(DeltaTable(str(uri)).schema().to_arrow().names) - {"project"}
    # Without --campaign the campaign column is all null: no bounds, every row counted null
    # (what a reader that finds no bounds assumes, and here it is true).
    nulls = {"campaign"}
    for add in adds:
        stats = json.loads(add["stats"])
        assert set(stats["minValues"]) == columns - nulls == set(stats["maxValues"])
        assert set(stats["nullCount"]) == columns
        assert {k: v for k, v in stats["nullCount"].items() if v} == {
            "campaign": stats["numRecords"]
        }
        assert stats["minValues"]["scored_at"] == "2026-11-24T09:00:00.000Z"


def test_a_new_plan_with_the_same_row_count_replaces_the_rows(tmp_path: Path) -> None:
    """The bug: the "already written?" check counted rows of another run through file stats."""
    uri = tmp_path / "assignments"
    version = _write(uri, _scores(800))
    kw: dict[str, Any] = {"project": "churn", "rows": 800}
    assert assignments.already_written(str(uri), run_id="a" * 32, **kw) == version
    assert assignments.already_written(str(uri), run_id="b" * 32, **kw) is None
    assert assignments.already_written(str(uri), run_id="a" * 32, project="churn", rows=7) is None
    # another project's plan after ours does not make ours stale
    _write(uri, _scores(10), project="other", run_id="c" * 32)
    assert assignments.already_written(str(uri), run_id="a" * 32, **kw) == version + 1
    # a commit of another writer might have changed anything: write again
    extra = DeltaTable(str(uri)).to_pyarrow_table().slice(0, 1)
    write_deltalake(str(uri), extra, mode="append")
    assert assignments.already_written(str(uri), run_id="a" * 32, **kw) is None


def test_plan_with_moved_bands_and_the_same_customers_rewrites_the_table(tmp_path: Path) -> None:
    scores = tmp_path / "scores.parquet"
    rng = np.random.default_rng(4)
    pq.write_table(
        pa.table({"customer_id": np.arange(600), "churn_score": rng.random(600)}), scores
    )
    moved = tmp_path / "moved.yaml"
    text = TEMPLATE_SPEC.read_text()
    moved.write_text(
        text.replace("risk_level: High (>0.8)", "risk_level: High (>0.7)").replace(
            "risk_level: Medium (0.5-0.8)", "risk_level: Medium (0.5-0.7)"
        )
    )
    assert moved.read_text() != TEMPLATE_SPEC.read_text()
    target = str(tmp_path / "assignments")
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runs = []
    for spec in (TEMPLATE_SPEC, moved):
        res = CliRunner().invoke(
            cli,
            [
                "plan",
                "--scores",
                str(scores),
                "--spec",
                str(spec),
                "--assignments-table",
                target,
                "--tracking-uri",
                db,
                "--json",
            ],
            catch_exceptions=False,
        )
        assert res.exit_code == 0, res.output
        runs.append(json.loads(res.stdout))
    assert runs[1]["run_id"] != runs[0]["run_id"]
    assert runs[1]["assignments_version"] == runs[0]["assignments_version"] + 1
    rows = DeltaTable(target).to_pyarrow_table()
    assert set(rows.column("plan_run_id").to_pylist()) == {runs[1]["run_id"]}
    high = [r for r in rows.to_pylist() if r["tier"] == "High"]
    assert min(r["churn_score"] for r in high) <= 0.8


# ------------------------------------------------------------------ the statistics themselves

_TS = st.integers(min_value=0, max_value=4_102_444_800_000_000)  # microseconds up to 2100


@settings(max_examples=200, deadline=None)
@given(st.lists(_TS, min_size=1, max_size=20), st.integers(min_value=1, max_value=3))
def test_timestamp_bounds_hold_at_millisecond_precision(micros: list[int], parts: int) -> None:
    stats = FileStats()
    column = pa.array(micros, pa.timestamp("us", tz="UTC"))
    step = max(1, len(micros) // parts)
    for start in range(0, len(micros), step):
        stats.add(pa.record_batch([column.slice(start, step)], names=["t"]))
    out = json.loads(stats.to_json())
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)

    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)

    low, high = parse(out["minValues"]["t"]), parse(out["maxValues"]["t"])
    values = [epoch + timedelta(microseconds=m) for m in micros]
    assert low <= min(values)
    assert high >= max(values)
    assert min(values) - low < timedelta(milliseconds=1)
    assert high - max(values) < timedelta(milliseconds=1)
    assert out["numRecords"] == len(micros)


@pytest.mark.parametrize(
    ("column", "bounded"),
    [
        (pa.array([0.5, float("nan")]), False),
        (pa.array(["a", "b" * (MAX_STRING_BOUND + 1)]), False),
        (pa.array([[1], [2]]), False),
        (pa.array(["x", "y"]).dictionary_encode(), True),
        (pa.array([1, None, 3]), True),
    ],
    ids=["nan", "long-string", "list", "dictionary", "nulls"],
)
def test_a_column_without_true_bounds_leaves_the_file_without_any(
    column: pa.Array, bounded: bool
) -> None:
    stats = FileStats()
    stats.add(pa.record_batch([column, pa.array(range(len(column)))], names=["c", "n"]))
    out = json.loads(stats.to_json())
    assert ("minValues" in out) is bounded
    assert ("maxValues" in out) is bounded
    assert out["nullCount"] == {"c": column.null_count, "n": 0}
    if bounded:
        assert set(out["minValues"]) == {"c", "n"}


def test_two_project_names_with_one_slug_do_not_overwrite_each_other(tmp_path: Path) -> None:
    scores = tmp_path / "scores.parquet"
    pq.write_table(
        pa.table({"customer_id": np.arange(50), "churn_score": np.linspace(0, 1, 50)}), scores
    )
    other = tmp_path / "other.yaml"
    text = TEMPLATE_SPEC.read_text()
    other.write_text(text.replace(_NAME, "customer-churn prediction!"))
    assert other.read_text() != text
    target = str(tmp_path / "assignments")
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    base = ["plan", "--scores", str(scores), "--assignments-table", target, "--tracking-uri", db]
    runner = CliRunner()
    first = runner.invoke(cli, [*base, "--spec", str(TEMPLATE_SPEC), "--json"])
    assert first.exit_code == 0, first.output
    for args in (["--json"], ["--json", "--dry-run"]):
        res = runner.invoke(cli, [*base, "--spec", str(other), *args])
        assert res.exit_code == 2, res.output
        error = json.loads(res.stdout)["error"]
        assert "already holds project 'Customer Churn Prediction'" in error
        assert "nothing was written" in error
    assert DeltaTable(target).version() == 0
    client = MlflowClient(db)
    experiment = client.get_run(json.loads(first.stdout)["run_id"]).info.experiment_id
    assert len(client.search_runs([experiment])) == 1  # no run for the refused plans
