"""The import-time refusal of an MLflow older than the oldest supported runtime's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignment_mlflow.runtime import unsupported_mlflow


@pytest.mark.parametrize(
    ("installed", "refused"),
    [
        ({"mlflow-skinny": "2.21.3"}, False),
        ({"mlflow": "2.22.0", "mlflow-skinny": "2.22.0"}, False),
        ({"mlflow": "3.5.0", "mlflow-skinny": "3.5.0"}, False),
        # DBR 15.4 LTS ML after pip laid skinny 3.x over its mlflow 2.11
        ({"mlflow": "2.11.4", "mlflow-skinny": "3.5.0"}, True),
        ({"mlflow-skinny": "2.20.9"}, True),
    ],
)
def test_unsupported_mlflow_is_named_with_the_supported_runtimes(
    installed: dict[str, str], refused: bool
) -> None:
    message = unsupported_mlflow(installed)
    assert (message is not None) == refused
    if message is not None:
        assert "16.4 LTS" in message
        assert "serverless environment 4" in message
        assert all(f"{k} {v}" in message for k, v in installed.items())


def test_importing_on_an_old_full_mlflow_is_refused(tmp_path: Path) -> None:
    """A real interpreter whose metadata says full mlflow 2.11.4 is installed (what DBR 15.4
    LTS ML has) refuses the import with the supported runtimes."""
    site = tmp_path / "site"
    dist = site / "mlflow-2.11.4.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mlflow\nVersion: 2.11.4\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = subprocess.run(
        [sys.executable, "-c", "import alignment_mlflow"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode != 0
    assert "needs MLflow >= 2.21" in res.stderr
    assert "mlflow 2.11.4" in res.stderr
    ok = subprocess.run([sys.executable, "-c", "import alignment_mlflow"], timeout=120)
    assert ok.returncode == 0
