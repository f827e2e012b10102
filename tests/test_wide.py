"""Wide findings (thousands of columns, tens of MB): accepted, aligned, and parsed once per rerun.

Files are generated from a real fixture (``_wide.py``), never committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from _wide import write_wide_findings
from alignment_mlflow.findings.io import (
    locate_findings,
    read_findings,
    update_findings_metadata,
)
from conftest import TEMPLATE_SPEC


def test_a_300_column_file_is_no_billion_laughs(tmp_path: Path) -> None:
    """~1.9 MB, no alias: it used to be refused by the alias guard, which counted every node."""
    path = write_wide_findings(tmp_path, 300)
    doc = read_findings(locate_findings(str(path)))
    assert len(doc.view.columns) == 300


class _CountingLoaders:
    """Counts libyaml loaders opened on the findings text (each one is a pass over the file)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
        self.count = 0
        original = yaml.CSafeLoader.__init__

        def counting(loader: Any, stream: Any) -> None:
            if len(stream) >= size:
                self.count += 1
            original(loader, stream)

        monkeypatch.setattr(yaml.CSafeLoader, "__init__", counting)


def test_a_no_op_update_parses_the_file_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_wide_findings(tmp_path, 300)
    loc = locate_findings(str(path))
    updates = {"alignment": {"spec_sha256": "abc", "tiers": [1.0, True, "x"]}}
    update_findings_metadata(loc, read_findings(loc), updates)
    before = path.read_bytes()
    counter = _CountingLoaders(monkeypatch, len(before) // 2)
    doc = read_findings(loc)
    read_passes = counter.count  # the flat depth scan and the one composition
    result = update_findings_metadata(loc, doc, updates)
    assert not result.changed
    assert counter.count == read_passes == 2
    assert path.read_bytes() == before
    # A real change is still written (and verified).
    changed = update_findings_metadata(loc, doc, {"alignment": {"spec_sha256": "def"}})
    assert changed.changed
    assert yaml.safe_load(path.read_text())["metadata"]["alignment"] == {"spec_sha256": "def"}


def test_a_type_change_is_not_mistaken_for_no_change(tmp_path: Path) -> None:
    path = write_wide_findings(tmp_path, 50)
    loc = locate_findings(str(path))
    update_findings_metadata(loc, read_findings(loc), {"alignment": {"flag": 1}})
    wrote = update_findings_metadata(loc, read_findings(loc), {"alignment": {"flag": True}})
    assert wrote.changed
    assert yaml.safe_load(path.read_text())["metadata"]["alignment"] == {"flag": True}


def test_run_aligns_a_wide_file_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    """1,000 columns (~6 MB) here; bench/wide.py runs 5,000 (~31 MB) the same way."""
    folder = tmp_path / "findings"
    folder.mkdir()
    path = write_wide_findings(folder, 1000)
    assert path.stat().st_size > 6_000_000

    def run() -> dict[str, Any]:
        out = subprocess.run(
            [
                *(sys.executable, "-m", "alignment_mlflow", "run", "--findings", str(path)),
                *("--spec", str(TEMPLATE_SPEC), "--json"),
                *("--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
        )
        assert out.returncode == 0, out.stderr[-3000:]
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    first = run()
    aligned = path.read_bytes()
    again = run()
    assert again["reused_run"] is True
    assert again["run_id"] == first["run_id"]
    assert again["tiers_version"] == first["tiers_version"]
    assert path.read_bytes() == aligned
    meta = yaml.load(aligned, Loader=yaml.CSafeLoader)["metadata"]
    assert meta["alignment"]["mlflow"]["run_id"] == first["run_id"]
