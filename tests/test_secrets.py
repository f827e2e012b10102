"""No token or other environment value leaks into anything the job writes or prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

pytestmark = pytest.mark.slow
MARKERS = {
    "DATABRICKS_TOKEN": "dapiSECRETMARKER0123456789",
    "DATABRICKS_HOST": "https://secret-marker-host.example.invalid",
    "ALIGNMENT_TEST_SECRET": "another-secret-marker-value",
}


def test_environment_values_never_reach_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "telco_pii_churn_408768_findings.yaml", folder)
    env = {**os.environ, **MARKERS}
    outputs = []
    for extra in ([], ["--json"], ["--new-run"]):
        result = subprocess.run(
            [sys.executable, "-m", "alignment_mlflow", "run", "--findings", str(folder),
             "--spec", str(TEMPLATE_SPEC), *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in written)
    assert any(p.suffix == ".parquet" for p in written)
    assert any(p.name == "report.html" for p in written)
    for marker in MARKERS.values():
        for p in written:
            assert marker.encode() not in p.read_bytes(), p
        for text in outputs:
            assert marker not in text
