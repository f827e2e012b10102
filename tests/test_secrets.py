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


@pytest.mark.mlflow_server
@pytest.mark.parametrize("via", ["option", "env"])
def test_credentials_in_the_tracking_uri_never_leave(
    tmp_path: Path, mlflow_server: str, via: str
) -> None:
    """``http://user:PASSWORD@host`` (option or MLFLOW_TRACKING_URI): the server gets the basic
    auth, nothing we write or print shows the password."""
    password = "pw-SECRET-4711"
    uri = mlflow_server.replace("http://", f"http://ana:{password}@")
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml", folder)
    env = {**os.environ, **({"MLFLOW_TRACKING_URI": uri} if via == "env" else {})}
    args = ["--tracking-uri", uri] if via == "option" else []
    outputs = []
    for extra in (["--json"], ["--dry-run"], []):
        result = subprocess.run(
            [sys.executable, "-m", "alignment_mlflow", "run", "--findings", str(folder),
             "--spec", str(TEMPLATE_SPEC), "--experiment", f"/Shared/secrets/{via}",
             "--tiers-table", str(tmp_path / "tiers"), *args, *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    assert "ana:***" not in "".join(outputs)  # the user name goes too
    findings = (folder / "subscription_clean_408768_findings.yaml").read_text()
    assert "http://***@127.0.0.1" in findings
    for text in [*outputs, findings]:
        assert password not in text
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name(f"/Shared/secrets/{via}")
    [run] = client.search_runs([exp.experiment_id])
    assert password not in str(run.data.tags) + str(run.data.params)


def test_a_token_in_the_query_string_is_not_in_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml", folder)
    result = subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", "run", "--findings", str(folder),
         "--spec", str(TEMPLATE_SPEC), "--tracking-uri", "ftp://host/x?token=tok-SECRET-99",
         "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "tok-SECRET-99" not in result.stdout + result.stderr
    assert "token=***" in result.stderr
