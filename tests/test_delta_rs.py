"""The tiers table on real delta-rs tables: merge semantics, idempotence, concurrency, errors."""

from __future__ import annotations

import multiprocessing
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from _specs import make_spec, spec_data
from alignment_mlflow.errors import DeltaWriteError, ProjectCollisionError, TargetError
from alignment_mlflow.spec import load_spec
from alignment_mlflow.tiers import delta_rs
from alignment_mlflow.tiers.schema import COLUMNS, tier_rows
from alignment_mlflow.tiers.writer import (
    check_project,
    check_tiers_target,
    tiers_version,
    write_tiers,
)


def rows(table: Path, project: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
    return [r for r in out if project is None or r["project"] == project]


def write(table: Path, spec: Any, run_id: str = "run-1", updated_later: bool = False) -> Any:
    when = datetime(2030, 1, 1, tzinfo=timezone.utc) if updated_later else None
    return write_tiers(
        str(table), spec, findings_path="/f/x_findings.yaml", run_id=run_id, updated_at=when
    )


def test_create_writes_one_row_per_tier_with_the_shared_schema(tmp_path: Path) -> None:
    table = tmp_path / "tiers"
    result = write(table, make_spec())
    assert result.changed
    assert result.backend == "delta-rs"
    assert result.counts == {"inserted": 3, "updated": 0, "deleted": 0}
    dt = DeltaTable(str(table))
    assert [f.name for f in dt.schema().fields] == [c.name for c in COLUMNS]
    assert dt.metadata().description.startswith("Intervention tiers")
    got = sorted(rows(table), key=lambda r: r["tier_rank"])
    assert [(r["tier"], r["tier_rank"], r["cost_per_customer"]) for r in got] == [
        ("High", 1, 50.0),
        ("Medium", 2, 10.0),
        ("Low", 3, 0.5),
    ]
    high = got[0]
    assert (high["min_score"], high["min_inclusive"], high["max_inclusive"]) == (0.8, False, True)
    assert high["risk_level"] == "High (>0.8)"
    assert high["mlflow_run_id"] == "run-1"
    assert high["updated_at"].tzinfo is not None


def test_rewriting_the_same_tiers_makes_no_new_version(tmp_path: Path) -> None:
    table = tmp_path / "tiers"
    first = write(table, make_spec())
    second = write(table, make_spec(), updated_later=True)
    assert not second.changed
    assert second.version == first.version
    assert DeltaTable(str(table)).version() == first.version


def test_another_run_of_the_same_tiers_repoints_the_rows(tmp_path: Path) -> None:
    """After a failed run, the run that completes must be the one the rows name."""
    table = tmp_path / "tiers"
    first = write(table, make_spec(), run_id="failed-run")
    second = write(table, make_spec(), run_id="completed-run")
    assert second.changed
    assert second.counts == {"inserted": 0, "updated": 3, "deleted": 0}
    assert {r["mlflow_run_id"] for r in rows(table)} == {"completed-run"}
    assert second.version == first.version + 1


def test_two_project_names_with_one_slug_are_refused_before_a_write(tmp_path: Path) -> None:
    table = tmp_path / "tiers"
    write(table, make_spec("Customer Churn Prediction"))
    version = DeltaTable(str(table)).version()
    other = make_spec("Customer-Churn: Prediction!")
    assert other.project_slug == "customer_churn_prediction"
    with pytest.raises(
        ProjectCollisionError, match="already holds project 'Customer Churn Prediction'"
    ):
        check_project(str(table), other)
    with pytest.raises(ProjectCollisionError):
        write(table, other)
    assert DeltaTable(str(table)).version() == version
    assert {r["project_name"] for r in rows(table)} == {"Customer Churn Prediction"}


def test_a_table_from_before_project_name_gains_the_column(tmp_path: Path) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    table = tmp_path / "tiers"
    old_schema = pa.schema([f for f in delta_rs.arrow_schema() if f.name != "project_name"])
    old_rows = [
        {k: v for k, v in r.items() if k != "project_name"}
        for r in tier_rows(
            make_spec(), project="customer_churn_prediction", findings_path="f", run_id="old"
        )
    ]
    write_deltalake(str(table), pa.Table.from_pylist(old_rows, schema=old_schema))
    check_project(str(table), make_spec())  # no names recorded yet: nothing to collide with
    result = write(table, make_spec(), run_id="new")
    assert result.changed
    assert {r["project_name"] for r in rows(table)} == {"Customer Churn Prediction"}


def test_update_insert_and_delete_stale_leave_other_projects_alone(tmp_path: Path) -> None:
    table = tmp_path / "tiers"
    write(table, make_spec())
    write(table, make_spec("Other Project"), run_id="other")
    data = spec_data()
    data["interventions"] = [
        {**data["interventions"][0], "cost": "$60/customer"},
        {"risk_level": "Low (<=0.8)", "intervention": "Email", "cost": "$1/customer",
         "expected_effectiveness": "2%"},
    ]  # fmt: skip
    result = write(table, load_spec(data), run_id="run-3")
    assert result.counts == {"inserted": 0, "updated": 2, "deleted": 1}
    mine = {r["tier"]: r for r in rows(table, "customer_churn_prediction")}
    assert set(mine) == {"High", "Low"}
    assert mine["High"]["cost_per_customer"] == 60.0
    assert mine["Low"]["max_inclusive"] is True
    others = rows(table, "other_project")
    assert len(others) == 3
    assert {r["mlflow_run_id"] for r in others} == {"other"}


def test_each_commit_carries_the_run_id_and_spec_sha(tmp_path: Path) -> None:
    table = tmp_path / "tiers"
    spec = make_spec()
    write(table, spec, run_id="run-xyz")
    latest = delta_rs.history_metadata(str(table))[0]
    assert latest["operation"] == "MERGE"
    assert latest["mlflow_run_id"] == "run-xyz"
    assert latest["spec_sha256"] == spec.sha256
    assert tiers_version(str(table)) == latest["version"]


def test_concurrent_threads_two_projects_and_same_project(tmp_path: Path) -> None:
    table = tmp_path / "tiers"
    specs = [make_spec("Alpha"), make_spec("Beta"), make_spec("Alpha"), make_spec("Beta")]
    errors: list[BaseException] = []

    def go(spec: Any, i: int) -> None:
        try:
            write_tiers(str(table), spec, findings_path="f", run_id=f"r{i}", max_attempts=10)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s, i)) for i, s in enumerate(specs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    got = rows(table)
    keys = [(r["project"], r["tier"]) for r in got]
    assert len(keys) == len(set(keys)) == 6


def _process_writer(table: str, project: str, i: int) -> None:
    """Ends as the CLI process does: a plain interpreter exit after deltalake writes aborts
    ~15-30% of the time (delta-rs#2184: exit -6, "terminate called without an active
    exception")."""
    from alignment_mlflow.cli import finish_process

    write_tiers(table, make_spec(project), findings_path="f", run_id=f"p{i}", max_attempts=10)
    finish_process(0)


def test_concurrent_processes(tmp_path: Path) -> None:
    table = str(tmp_path / "tiers")
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_process_writer, args=(table, p, i))
        for i, p in enumerate(["Alpha", "Beta", "Alpha"])
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    keys = [(r["project"], r["tier"]) for r in rows(Path(table))]
    assert len(keys) == len(set(keys)) == 6


def test_a_file_where_a_folder_is_expected_is_rejected_before_writing(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(TargetError, match="is a file"):
        check_tiers_target(str(blocker / "tiers"))
    with pytest.raises(TargetError, match="is a file"):
        write(blocker / "tiers", make_spec())
    assert blocker.read_text() == "x"


def test_a_broken_table_gives_a_clear_error_and_stays_as_it_was(tmp_path: Path) -> None:
    table = tmp_path / "tiers"
    write(table, make_spec())
    log = table / "_delta_log"
    before = sorted(p.name for p in log.iterdir())
    (log / f"{len(before):020d}.json").write_text("{not json")
    with pytest.raises(DeltaWriteError, match=str(table)):
        write(table, make_spec("Other"))
    assert sorted(p.name for p in log.iterdir()) == sorted([*before, f"{len(before):020d}.json"])


def test_table_names_need_spark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A process with no Spark session: this worker may have run the Spark tests first, and
    # their shared session stays active (it is never stopped for another test).
    monkeypatch.setattr("alignment_mlflow.tables.spark.active_spark", lambda: None)
    with pytest.raises(TargetError, match="needs a Spark session"):
        write_tiers("main.churn.tiers", make_spec(), findings_path="f", run_id=None)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("ftp://host/tiers", "unsupported scheme ftp://"),
        ("hdfs://nn/tiers", "unsupported scheme hdfs://"),
        ("s3:/bucket/tiers", "not a complete URI: expected s3://bucket/path"),
        ("s3://", "not a complete URI"),
        ("dbfs:/tiers", "dbfs:/ paths are not written"),
    ],
)
def test_unsupported_or_malformed_uris_are_refused(target: str, message: str) -> None:
    with pytest.raises(TargetError, match=re.escape(message)):
        check_tiers_target(target)


@pytest.mark.parametrize("runtime", ["15.4", "client.1.13"])
@pytest.mark.parametrize(
    "target",
    [
        "./alignment_delta/intervention_tiers",
        # delta-rs commits by rename/hard link, which the volume mount refuses (ENOSYS,
        # delta-io/delta-rs#2540); DBFS's FUSE mount is no better.
        "/Volumes/main/churn/vol/tiers",
        "/dbfs/tmp/tiers",
        "dbfs:/tmp/tiers",
        "s3://bucket/tiers",
    ],
)
def test_on_databricks_only_a_table_name_is_accepted(
    runtime: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", runtime)
    with pytest.raises(TargetError, match=r"--tiers-table catalog\.schema\.table"):
        check_tiers_target(target)
    check_tiers_target("main.churn.intervention_tiers")


def test_the_version_reported_is_our_merge_not_a_newer_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits right after our MERGE: the findings must cite our version."""
    from deltalake.table import TableMerger

    table = tmp_path / "tiers"
    write(table, make_spec("Other"))
    real_execute = TableMerger.execute

    def execute_then_other_writer(self: Any) -> dict[str, Any]:
        metrics: dict[str, Any] = real_execute(self)
        monkeypatch.setattr(TableMerger, "execute", real_execute)
        write(table, make_spec("Interloper"), run_id="theirs")
        return metrics

    monkeypatch.setattr(TableMerger, "execute", execute_then_other_writer)
    ours = write(table, make_spec("Ours"), run_id="ours")
    by_version = {
        h["version"]: h.get("mlflow_run_id") for h in delta_rs.history_metadata(str(table))
    }
    assert by_version[ours.version] == "ours"
    assert DeltaTable(str(table)).version() == ours.version + 1


def test_a_target_is_resolved_into_one_typed_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignment_mlflow.tables.names import TableName
    from alignment_mlflow.tiers.writer import Target, resolve_target, resolved_target

    monkeypatch.chdir(tmp_path)
    path = resolve_target("./tiers")
    assert path == Target("path", str(tmp_path.resolve() / "tiers"), "./tiers")
    assert path.value == resolved_target("./tiers")
    assert resolve_target("s3://bucket/tiers") == Target(
        "uri", "s3://bucket/tiers", "s3://bucket/tiers"
    )
    table = resolve_target("main.churn.tiers")
    assert (table.kind, table.value, table.name) == (
        "table",
        "main.churn.tiers",
        TableName(("main", "churn", "tiers")),
    )
    assert table.is_table
    assert not path.is_table
