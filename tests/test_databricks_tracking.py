"""``--tracking-uri databricks`` end to end against the local workspace (``_databricks_fake.py``).

The real MLflow client and the real databricks-sdk talk to the fake workspace, whose MLflow
endpoints are the session's real ``mlflow server``; artifacts go through MLflow's Databricks
artifact repository, both ways it moves bytes (Files API first, presigned URLs as its fallback).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from _databricks_fake import FakeWorkspace
from _databricks_workspace import USER, WORKSPACE_ID
from alignment_mlflow.tracking import uris
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC
from test_e2e_cli import cli

FIXTURE = FINDINGS_FIXTURES / "customer_emails_8m_408768_aggregated_5cde09_findings.yaml"


def run_cli(ws: FakeWorkspace, tmp_path: Path, experiment: str, **env: str) -> dict[str, Any]:
    findings = tmp_path / "findings" / FIXTURE.name
    findings.parent.mkdir(exist_ok=True)
    shutil.copy2(FIXTURE, findings)
    proc = cli(
        "run",
        "--findings",
        str(findings),
        "--spec",
        str(TEMPLATE_SPEC),
        "--tracking-uri",
        "databricks",
        "--experiment",
        experiment,
        "--tiers-table",
        str(tmp_path / "tiers"),
        "--json",
        cwd=tmp_path,
        env={**ws.env(), **env},
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    out["_findings"] = findings
    return out


@pytest.mark.slow
@pytest.mark.mlflow_server
@pytest.mark.parametrize("sdk_artifacts", ["files-api", "presigned-urls"])
def test_run_with_databricks_tracking_end_to_end(
    databricks_mlflow: FakeWorkspace,
    mlflow_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sdk_artifacts: str,
) -> None:
    ws = databricks_mlflow
    folder = f"/Users/{USER}/alignment/{uuid.uuid4().hex[:8]}"
    experiment = f"{folder}/churn"
    env = {}
    if sdk_artifacts == "presigned-urls":
        env["MLFLOW_DISABLE_DATABRICKS_SDK_FOR_RUN_ARTIFACTS"] = "true"
    assert folder not in ws.objects
    out = run_cli(ws, tmp_path, experiment, **env)

    # the experiment's folder was made, then the experiment inside it
    assert ws.objects[folder][0] == "DIRECTORY"
    assert ws.objects[experiment] == ("MLFLOW_EXPERIMENT", int(out["experiment_id"]))
    assert ("POST", "/api/2.0/workspace/mkdirs") in ws.requests
    # MLflow's Databricks run link: host?o=<workspace id>#mlflow/experiments/<id>/runs/<id>
    assert out["run_url"] == (
        f"{ws.host}?o={WORKSPACE_ID}#mlflow/experiments/{out['experiment_id']}/runs/{out['run_id']}"
    )
    written = yaml.safe_load(out["_findings"].read_text())
    assert written["metadata"]["alignment"]["mlflow"]["run_url"] == out["run_url"]
    assert written["metadata"]["alignment"]["mlflow"]["tracking_uri"] == "databricks"

    # what the server holds: a finished run with params, our tags and MLflow's context tags
    run = MlflowClient(mlflow_server).get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["context.project_name"] == "Customer Churn Prediction"
    assert run.data.tags["mlflow.alignment.findings_updated"] == "true"
    assert run.data.tags["mlflow.user"]
    assert run.data.tags["mlflow.source.type"] == "LOCAL"
    assert run.data.tags["mlflow.source.name"]

    # artifacts went through the path under test and read back through the workspace
    uploads = [p for m, p in ws.requests if m == "PUT"]
    if sdk_artifacts == "files-api":
        assert all(p.startswith("/api/2.0/fs/files/WorkspaceInternal/Mlflow/") for p in uploads)
    else:
        assert ("POST", "/api/2.0/mlflow/artifacts/credentials-for-write") in ws.requests
        assert all(p.startswith("/_presigned/") for p in uploads)
    assert len(uploads) >= 4
    monkeypatch.setenv("DATABRICKS_HOST", ws.host)
    monkeypatch.setenv("DATABRICKS_TOKEN", ws.env()["DATABRICKS_TOKEN"])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    via_workspace = MlflowClient("databricks")
    names = {a.path for a in via_workspace.list_artifacts(out["run_id"], "alignment")}
    assert {"alignment/spec.yaml", "alignment/spec.normalised.json"} <= names
    assert "report.html" in {a.path for a in via_workspace.list_artifacts(out["run_id"])}
    spec_file = via_workspace.download_artifacts(out["run_id"], "alignment/spec.yaml", tmp_path)
    spec = yaml.safe_load(Path(spec_file).read_text())
    assert spec["business_context"]["project_name"] == "Customer Churn Prediction"

    if sdk_artifacts == "files-api":
        # a rerun reuses the finished run, with the same link; making the folder again is harmless
        again = run_cli(ws, tmp_path, experiment, **env)
        assert again["reused_run"] is True
        assert (again["run_id"], again["run_url"]) == (out["run_id"], out["run_url"])


@pytest.mark.mlflow_server
def test_fake_refuses_an_experiment_under_a_missing_folder(
    databricks_mlflow: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in databricks_mlflow.env().items():
        monkeypatch.setenv(k, v)
    client = MlflowClient("databricks")
    name = f"/Shared/missing-{uuid.uuid4().hex[:8]}/churn"
    with pytest.raises(MlflowException, match=r"RESOURCE_DOES_NOT_EXIST.*Parent directory"):
        client.create_experiment(name)
    assert name not in databricks_mlflow.objects


def test_context_tags_ride_on_the_run_locally(tmp_path: Path) -> None:
    from test_tracking import start

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ref = start(uri)
    tags = MlflowClient(uri).get_run(ref.run_id).data.tags
    assert tags["mlflow.user"]
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"]
    assert tags["mlflow.alignment.fingerprint"]  # ours are kept beside them


def test_context_tags_never_override_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    from alignment_mlflow.tracking import databricks

    monkeypatch.setenv("MLFLOW_RUN_CONTEXT", json.dumps({"team": "churn"}))
    assert databricks.context_tags()["team"] == "churn"  # MLflow's SystemEnvironmentContext


@pytest.mark.parametrize("workspace_id", ["1234567890123456", None, "0"])
def test_run_url_is_the_one_mlflow_builds(workspace_id: str | None) -> None:
    from mlflow.utils.databricks_utils import _construct_databricks_run_url

    from alignment_mlflow.tracking import databricks

    ws = databricks.WorkspaceInfo("https://adb-1.azuredatabricks.net", workspace_id)
    ours = uris.run_url("databricks", "7", "abc", ws)
    assert ours == _construct_databricks_run_url(ws.host, "7", "abc", workspace_id)


def test_run_url_without_a_request(monkeypatch: pytest.MonkeyPatch) -> None:

    assert uris.run_url("databricks", "7", "abc") is None  # no host known
    monkeypatch.setenv("DATABRICKS_HOST", "adb-1.azuredatabricks.net/")
    monkeypatch.setenv("DATABRICKS_WORKSPACE_ID", "99")
    assert uris.run_url("databricks://prod", "7", "abc") == (
        "https://adb-1.azuredatabricks.net?o=99#mlflow/experiments/7/runs/abc"
    )


@pytest.mark.slow
@pytest.mark.mlflow_server
def test_plan_makes_its_experiments_folder_as_run_does(
    databricks_mlflow: FakeWorkspace, tmp_path: Path
) -> None:
    """Databricks refuses an experiment under a missing folder: plan prepares it as align does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ws = databricks_mlflow
    folder = f"/Users/{USER}/plans/{uuid.uuid4().hex[:8]}"
    scores = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"customer_id": [1, 2, 3], "churn_score": [0.9, 0.6, 0.1]}), scores)
    proc = cli(
        "plan", "--scores", str(scores), "--spec", str(TEMPLATE_SPEC), "--tracking-uri",
        "databricks", "--experiment", f"{folder}/churn", "--json",
        cwd=tmp_path, env=ws.env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert ws.objects[folder][0] == "DIRECTORY"
    assert ws.objects[f"{folder}/churn"][0] == "MLFLOW_EXPERIMENT"


@pytest.mark.mlflow_server
def test_the_chain_links_runs_by_their_databricks_pages(
    databricks_mlflow: FakeWorkspace, mlflow_server: str, tmp_path: Path
) -> None:
    """On Databricks the UI's pages are ``<host>...#mlflow/experiments/..``: the chain in the
    alignment run's description and the experiment's description link there, not to the OSS
    UI's ``#/experiments/..`` route, which a workspace does not serve."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ws = databricks_mlflow
    experiment = f"/Users/{USER}/chain/{uuid.uuid4().hex[:8]}/churn"
    aligned = run_cli(ws, tmp_path, experiment)
    scores = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"customer_id": [1, 2, 3], "churn_score": [0.9, 0.6, 0.1]}), scores)
    proc = cli(
        "plan", "--scores", str(scores), "--spec", str(aligned["_findings"]), "--tracking-uri",
        "databricks", "--experiment", experiment, "--json",
        cwd=tmp_path, env=ws.env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    planned = json.loads(proc.stdout)
    exp_id = aligned["experiment_id"]
    client = MlflowClient(mlflow_server)
    notes = client.get_run(aligned["run_id"]).data.tags["mlflow.note.content"]
    plan_page = f"{ws.host}#mlflow/experiments/{exp_id}/runs/{planned['run_id']}"
    assert f"]({plan_page})" in notes
    assert f"#/experiments/{exp_id}/runs/{planned['run_id']}" not in notes
    about = client.get_experiment(exp_id).tags["mlflow.note.content"]
    assert f"#mlflow/experiments/{exp_id}/runs/{aligned['run_id']}" in about
    assert f"#/experiments/{exp_id}/runs/" not in about
