"""Delta tables the Arrow path cannot read or write truthfully are refused for what they are.

The tables are written as Spark and Databricks write them (column mapping, deletion vectors),
log and files by hand, since delta-rs does not create such tables itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable

from alignment_mlflow.cli import cli
from conftest import TEMPLATE_SPEC


def _field(name: str, kind: str, physical: str | None, i: int) -> dict[str, Any]:
    meta = {"delta.columnMapping.id": i, "delta.columnMapping.physicalName": physical}
    return {"name": name, "type": kind, "nullable": True, "metadata": meta if physical else {}}


def _table(root: Path, *, mapping: bool, protocol: dict[str, Any]) -> None:
    """Three scored customers, with physical column names when ``mapping``."""
    (root / "_delta_log").mkdir(parents=True)
    names = ("col-a1", "col-b2") if mapping else ("customer_id", "churn_score")
    pq.write_table(pa.table({names[0]: [1, 2, 3], names[1]: [0.1, 0.6, 0.9]}), root / "p.parquet")
    schema = {
        "type": "struct",
        "fields": [
            _field("customer_id", "long", names[0] if mapping else None, 1),
            _field("churn_score", "double", names[1] if mapping else None, 2),
        ],
    }
    config = {"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": "2"}
    actions = [
        {"protocol": protocol},
        {
            "metaData": {
                "id": "t",
                "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps(schema),
                "partitionColumns": [],
                "configuration": config if mapping else {},
                "createdTime": 1,
            }
        },
        {
            "add": {
                "path": "p.parquet",
                "partitionValues": {},
                "size": os.path.getsize(root / "p.parquet"),
                "modificationTime": 1,
                "dataChange": True,
                "stats": json.dumps({"numRecords": 3}),
            }
        },
    ]
    log = root / "_delta_log" / f"{0:020d}.json"
    log.write_text("\n".join(json.dumps(a) for a in actions) + "\n")


MAPPED = {"minReaderVersion": 2, "minWriterVersion": 5}
DV = {
    "minReaderVersion": 3,
    "minWriterVersion": 7,
    "readerFeatures": ["deletionVectors"],
    "writerFeatures": ["deletionVectors"],
}


def _plan(tmp_path: Path, scores: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    db = tmp_path / "mlflow.db"
    res = CliRunner().invoke(
        cli,
        ["plan", "--scores", str(scores), "--spec", str(TEMPLATE_SPEC), "--json",
         "--tracking-uri", f"sqlite:///{db}", *extra],
    )  # fmt: skip
    return res.exit_code, json.loads(res.stdout)


@pytest.mark.parametrize(
    ("mapping", "protocol", "needle"),
    [
        (True, MAPPED, "column mapping (delta.columnMapping.mode = name)"),
        (False, DV, "deletion vectors"),
    ],
    ids=["column-mapping", "deletion-vectors"],
)
def test_scores_tables_the_arrow_path_would_misread_are_refused(
    tmp_path: Path, mapping: bool, protocol: dict[str, Any], needle: str
) -> None:
    scores = tmp_path / "scores"
    _table(scores, mapping=mapping, protocol=protocol)
    code, out = _plan(tmp_path, scores)
    assert code == 2, out
    assert needle in out["error"]
    assert "null" not in out["error"].split("uses")[0]  # not reported as null ids
    assert not (tmp_path / "mlflow.db").exists() or "run_id" not in out


def test_an_assignments_table_upgraded_to_deletion_vectors_is_refused_before_the_run(
    tmp_path: Path,
) -> None:
    scores = tmp_path / "scores"
    _table(scores, mapping=False, protocol={"minReaderVersion": 1, "minWriterVersion": 2})
    target = tmp_path / "assignments"
    code, out = _plan(tmp_path, scores, "--assignments-table", str(target))
    assert code == 0, out
    upgrade = {"protocol": DV}
    (target / "_delta_log" / f"{1:020d}.json").write_text(json.dumps(upgrade) + "\n")
    assert DeltaTable(str(target)).version() == 1
    for extra in ([], ["--dry-run"]):
        code, out = _plan(tmp_path, scores, "--assignments-table", str(target), *extra)
        assert code == 2, out
        assert "assignments table" in out["error"]
        assert "deletion vectors" in out["error"]
    assert DeltaTable(str(target)).version() == 1


def test_an_upgrade_to_deletion_vectors_between_check_and_commit_is_refused_at_the_commit(
    tmp_path: Path,
) -> None:
    """The check before the run can race a writer upgrading the table: the commit itself
    re-checks, refuses (exit 2, no version) and leaves no part file behind."""
    from alignment_mlflow.economics import assignments
    from alignment_mlflow.errors import TargetError

    scores = tmp_path / "scores"
    _table(scores, mapping=False, protocol={"minReaderVersion": 1, "minWriterVersion": 2})
    target = tmp_path / "assignments"
    code, out = _plan(tmp_path, scores, "--assignments-table", str(target))
    assert code == 0, out
    rows = DeltaTable(str(target)).to_pyarrow_table()
    (target / "_delta_log" / f"{1:020d}.json").write_text(json.dumps({"protocol": DV}) + "\n")
    files = sorted(p.name for p in target.rglob("*.parquet"))
    reader = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
    with pytest.raises(TargetError, match="deletion vectors") as exc:
        assignments.write(
            str(target), reader, project=rows["project"][0].as_py(), commit_metadata={}
        )
    assert exc.value.exit_code == 2
    assert DeltaTable(str(target)).version() == 1
    assert sorted(p.name for p in target.rglob("*.parquet")) == files
