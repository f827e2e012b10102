"""End to end: `alignment-mlflow run` as a subprocess against a real mlflow server and Delta."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_mlflow.pipeline import JSON_KEYS
from conftest import FINDINGS_FIXTURES, SINGLE_DATASET_FINDINGS, TEMPLATE_SPEC

pytestmark = [pytest.mark.slow, pytest.mark.mlflow_server]

TOP_LEVEL_NOTEBOOK_KEYS = {"business_context", "success_metrics", "deployment_requirements"}


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def rest(server: str, endpoint: str, **params: str) -> dict[str, Any]:
    url = f"{server}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def search_runs(server: str, experiment_id: str) -> list[dict[str, Any]]:
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 100}).encode()
    req = urllib.request.Request(
        f"{server}/api/2.0/mlflow/runs/search",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        runs: list[dict[str, Any]] = json.loads(resp.read()).get("runs", [])
        return runs


def delta_rows(table: Path) -> list[dict[str, Any]]:
    from deltalake import DeltaTable

    rows: list[dict[str, Any]] = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
    return rows


@pytest.mark.parametrize("fixture", SINGLE_DATASET_FINDINGS, ids=lambda p: p.stem)
def test_run_end_to_end_and_rerun_changes_nothing(
    fixture: Path, tmp_path: Path, mlflow_server: str
) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    findings = folder / fixture.name
    shutil.copy2(fixture, findings)
    original = yaml.safe_load(fixture.read_text())
    table = tmp_path / "tiers"
    experiment = f"/Shared/alignment/e2e-{fixture.stem}"
    args = [
        "run",
        "--findings",
        str(folder),
        "--spec",
        str(TEMPLATE_SPEC),
        "--tracking-uri",
        mlflow_server,
        "--experiment",
        experiment,
        "--tiers-table",
        str(table),
        "--json",
    ]

    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert tuple(out) == JSON_KEYS
    assert out["findings_path"] == str(findings)
    assert out["reused_run"] is False
    assert out["status"] in {"blocked", "needs_review", "aligned"}
    assert out["dry_run"] is False
    assert out["tiers_table"] == str(table)
    assert isinstance(out["tiers_version"], int)
    assert set(out["timings"]) >= {"validate_spec", "load_findings", "mlflow_run", "delta_tiers"}

    # The MLflow run, through the REST API.
    run = rest(mlflow_server, "runs/get", run_id=out["run_id"])["run"]
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["experiment_id"] == out["experiment_id"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert params["metric.model_auc.target"] == ">= 0.80"
    assert params["tier.high.cost"] == "50 USD/customer"
    assert tags["alignment.status"] == out["status"]
    assert tags["mlflow.alignment.delta_version"] == str(out["tiers_version"])
    assert tags["mlflow.alignment.project"] == "customer_churn_prediction"
    assert "Reduce customer churn" in tags["mlflow.note.content"]

    # The Delta rows: one per tier, linked to the run.
    rows = delta_rows(table)
    assert sorted(r["tier"] for r in rows) == ["High", "Low", "Medium"]
    assert {r["mlflow_run_id"] for r in rows} == {out["run_id"]}

    # The findings: only metadata changed, with the notebook's keys and ours.
    updated = yaml.safe_load(findings.read_text())
    assert set(updated) == set(original)
    assert {k: v for k, v in updated.items() if k != "metadata"} == {
        k: v for k, v in original.items() if k != "metadata"
    }
    meta = updated["metadata"]
    assert set(meta) >= TOP_LEVEL_NOTEBOOK_KEYS
    for key, value in (original.get("metadata") or {}).items():
        assert meta[key] == value
    assert meta["alignment"]["mlflow"]["run_id"] == out["run_id"]
    assert meta["alignment"]["delta"]["version"] == out["tiers_version"]
    assert meta["success_metrics"][0] == {
        "Metric": "Model AUC",
        "Target": ">= 0.80",
        "Priority": "High",
        "Rationale": "Need strong discrimination to prioritize high-risk customers",
    }

    # A rerun: same run, same table version, identical findings bytes, no new run.
    before = findings.read_bytes()
    second = cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["reused_run"] is True
    assert again["run_id"] == out["run_id"]
    assert again["tiers_version"] == out["tiers_version"]
    assert findings.read_bytes() == before
    assert len(search_runs(mlflow_server, out["experiment_id"])) == 1


def test_human_output_has_a_line_per_step_and_a_summary(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    for name in ("customer_emails_8m_408768_aggregated_5cde09", "customer_emails_8m_408768"):
        shutil.copy2(FINDINGS_FIXTURES / f"{name}_findings.yaml", folder)
    result = cli("run", "--findings", str(folder), "--spec", str(TEMPLATE_SPEC), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for step in ("validate_spec", "load_findings", "mlflow_run", "delta_tiers", "findings_update"):
        assert any(line.startswith(step) for line in lines), result.stdout
    assert any(line.startswith("tiers:") and "version 1" in line for line in lines)
    discovery = next(line for line in lines if line.startswith("load_findings"))
    assert "aggregated_5cde09_findings.yaml (newest aggregated findings file" in discovery
    assert "skipped customer_emails_8m_408768_findings.yaml: not aggregated" in discovery
    assert any(
        line.strip().startswith("FAILED        Historical Depth: only 168 days") for line in lines
    )
    # Embedded defaults land in the working directory.
    assert (tmp_path / "alignment_delta" / "intervention_tiers" / "_delta_log").is_dir()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(SINGLE_DATASET_FINDINGS[0], folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = cli(
        "run", "--findings", str(folder), "--spec", str(TEMPLATE_SPEC), "--dry-run", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "would" in result.stdout
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings"]


def test_invalid_spec_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(SINGLE_DATASET_FINDINGS[0], folder)
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEMPLATE_SPEC.read_text().replace("High (>0.8)", "High (>0.9)"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = cli("run", "--findings", str(folder), "--spec", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "interventions" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "findings"]


def test_tracking_server_down_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(SINGLE_DATASET_FINDINGS[0], folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = cli(
        "run",
        "--findings",
        str(folder),
        "--spec",
        str(TEMPLATE_SPEC),
        "--tracking-uri",
        f"http://127.0.0.1:{port}",
        cwd=tmp_path,
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"},
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not (tmp_path / "alignment_delta").exists()


def test_wheel_task_named_parameters_mean_run(tmp_path: Path) -> None:
    """Databricks passes named_parameters as --key=value with no sub-command."""
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(SINGLE_DATASET_FINDINGS[0], folder)
    result = cli(
        f"--findings={folder}", f"--spec={TEMPLATE_SPEC}", "--dry-run", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run_id"] is None
