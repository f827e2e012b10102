"""The next plan removes a killed plan's uncommitted part files, and nothing else (issue 23)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from alignment_mlflow.economics import leftovers

FOLDER = "project=p"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _as_written_by(name: str, pid: int) -> str:
    """A part name as the writer with ``pid`` on this host would have named it."""
    return re.sub(r"p\d+\.c000\.", f"p{pid}.c000.", name)  # ...-w<host>p<pid>.c000...


def test_only_unreferenced_part_files_of_dead_writers_in_the_folder_are_removed(
    tmp_path: Path,
) -> None:
    root = tmp_path / "table"
    write_deltalake(str(root), pa.table({"project": ["p"], "x": [1]}), partition_by=["project"])
    write_deltalake(  # version 1 removes version 0's file: history, kept for time travel
        str(root), pa.table({"project": ["p"], "x": [2]}), partition_by=["project"],
        mode="overwrite",
    )  # fmt: skip
    folder = root / FOLDER
    dead = _dead_pid()
    mine = leftovers.part_name(0)
    names = {
        "orphan": _as_written_by(mine, dead),
        "live": mine,  # this process writes it: alive
        "foreign": "part-00000-0c6f1a54-2a3c-4b9e-9d7e-0a1b2c3d4e5f-c000.snappy.parquet",
    }
    for name in names.values():
        (folder / name).write_bytes(b"PAR1")
    other = root / "project=q"
    other.mkdir()
    (other / names["orphan"]).write_bytes(b"PAR1")  # another project's folder: never looked at
    committed = {Path(u).name for u in DeltaTable(str(root), version=0).file_uris()}
    committed |= {Path(u).name for u in DeltaTable(str(root)).file_uris()}
    # A committed file named as a dead writer's: referenced by the log, so kept.
    [old] = [n for n in committed if (folder / n).exists()][:1]
    referenced = _as_written_by(mine, dead).replace("part-00000", "part-00009")
    os.rename(folder / old, folder / referenced)
    log = sorted((root / "_delta_log").glob("*.json"))
    for entry in log:
        entry.write_text(entry.read_text().replace(old, referenced))

    removed = leftovers.remove_orphan_parts(root, FOLDER)

    assert removed == [names["orphan"]]
    left = {p.name for p in folder.iterdir()}
    assert {names["live"], names["foreign"], referenced} <= left
    assert names["orphan"] not in left
    assert (other / names["orphan"]).exists()


def test_nothing_is_removed_when_the_log_cannot_be_read(tmp_path: Path) -> None:
    root = tmp_path / "table"
    (root / "_delta_log").mkdir(parents=True)
    (root / "_delta_log" / "00000000000000000000.json").write_text("{corrupt")
    (root / FOLDER).mkdir()
    orphan = _as_written_by(leftovers.part_name(0), _dead_pid())
    (root / FOLDER / orphan).write_bytes(b"PAR1")
    assert leftovers.remove_orphan_parts(root, FOLDER) == []
    assert (root / FOLDER / orphan).exists()
