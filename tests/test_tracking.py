"""MLflow logging against real stores: a sqlite store and the session's `mlflow server`."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from _mlflow_server import CountingProxy
from _specs import make_spec
from alignment_mlflow import tagkeys
from alignment_mlflow.errors import TargetError, TrackingError
from alignment_mlflow.findings.constraints import Verdict
from alignment_mlflow.findings.document import base_sha256, parse_findings
from alignment_mlflow.spec import render_spec_yaml, spec_to_dict
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.tracking import orphans, uris
from alignment_mlflow.tracking import runs as tracking
from alignment_mlflow.tracking.content import (
    VERDICT_TAG,
    RunContext,
    final_tags,
    reusable,
    verdict_digest,
)
from alignment_mlflow.tracking.report import report_html
from conftest import FINDINGS_FIXTURES

CLEAN = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"
DOC = parse_findings(CLEAN.read_bytes(), str(CLEAN))
EXPERIMENT = "/Shared/alignment/tracking-test"


def context(spec: AlignmentSpec | None = None) -> RunContext:
    return RunContext(
        spec=spec or make_spec(),
        findings=DOC.view,
        findings_location=str(CLEAN),
        findings_sha256=base_sha256(DOC),
        verdicts=(),
        package_version="0.1.0",
    )


def start(uri: str, spec: AlignmentSpec | None = None, **kw: Any) -> tracking.RunRef:
    ctx = context(spec)
    client = tracking.make_client(uri)
    kw.setdefault("verdicts_at", lambda ms: ctx.verdicts)
    return tracking.start_alignment_run(
        client,
        tracking_uri=uri,
        experiment=kw.pop("experiment", EXPERIMENT),
        ctx=ctx,
        spec_text=render_spec_yaml(ctx.spec),
        spec_dict=spec_to_dict(ctx.spec),
        **kw,
    )


def finish(uri: str, ref: tracking.RunRef, **tags: str) -> None:
    ctx = replace(context(), delta_table="t", delta_version=1)
    tracking.finish_run(
        tracking.make_client(uri),
        ref,
        tags={**final_tags(ctx), **tags},
        report_html=report_html(ctx),
    )


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_resolution_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert uris.resolve_tracking_uri("http://x:5000") == "http://x:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///a.db")
    # a relative sqlite path is made absolute: the store is the same wherever MLflow opens it
    assert uris.resolve_tracking_uri(None) == f"sqlite:///{Path('a.db').resolve()}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert uris.resolve_tracking_uri(None).endswith("/mlflow.db")
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    assert uris.resolve_tracking_uri(None) == "databricks"
    assert uris.default_experiment(make_spec()) == "/Shared/alignment/customer_churn_prediction"
    with pytest.raises(TargetError, match=r"/Users/<you@company\.com>"):
        uris.check_experiment_name("churn", "databricks")
    uris.check_experiment_name("/Shared/alignment/x", "databricks://prod")
    uris.check_experiment_name("churn", "sqlite:///x.db")
    for bad in ("ftp://host", "not a uri", ""):
        with pytest.raises(TargetError, match="invalid tracking URI"):
            uris.check_experiment_name("/Shared/x", bad)


def test_run_url_forms() -> None:
    assert uris.run_url("http://h:5000/", "1", "r") == (
        "http://h:5000/#/experiments/1/runs/r?workflowType=machine_learning"
    )
    assert uris.experiment_url("http://h:5000", "1") == (
        "http://h:5000/#/experiments/1?workflowType=machine_learning"
    )
    assert uris.run_url("sqlite:///x.db", "1", "r") is None


def test_run_holds_params_tags_description_and_artifacts(sqlite_uri: str, tmp_path: Path) -> None:
    ref = start(sqlite_uri)
    client = MlflowClient(sqlite_uri)
    run = client.get_run(ref.run_id)
    assert run.info.status == "RUNNING"  # the pipeline finishes it after Delta and findings
    assert run.info.run_name == f"subscription_clean_408768-{make_spec().sha256[:7]}"
    assert run.data.params["metric.precision_at_20pct.target"] == ">= 0.60"
    assert run.data.params["tier.high.cost"] == "50 USD/customer"
    assert run.data.tags["mlflow.alignment.spec_sha256"] == make_spec().sha256
    assert run.data.tags["alignment.status"] == "aligned"
    # The Tags panel (MLflow UI's isUserFacingTag): the status, the reasons, the dataset.
    assert tagkeys.reader_keys(run.data.tags) == [
        "alignment.data", "alignment.status", "alignment.why"
    ]  # fmt: skip
    assert run.data.metrics["constraints_failed"] == 0
    assert run.data.metrics["tiers"] == 3
    assert "Reduce customer churn" in run.data.tags["mlflow.note.content"]
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "subscription_clean_408768"
    assert dataset_input.dataset.digest == base_sha256(DOC)[:12]
    assert str(CLEAN) in dataset_input.dataset.source
    logged = json.loads(run.data.tags["mlflow.loggedArtifacts"])
    assert {"path": "alignment/interventions.json", "type": "table"} in logged
    names = sorted(a.path for a in client.list_artifacts(ref.run_id, "alignment"))
    assert names == [
        "alignment/data_constraints.json",
        "alignment/interventions.json",
        "alignment/spec.normalised.json",
        "alignment/spec.yaml",
        "alignment/success_metrics.json",
    ]
    table = json.loads(
        Path(
            client.download_artifacts(ref.run_id, "alignment/interventions.json", str(tmp_path))
        ).read_text()
    )
    assert table["columns"][:2] == ["rank", "tier"]
    # MLflow's own reader understands our table artifact (MLflow 3; 2.x searches the global URI).
    if int(mlflow.__version__.split(".")[0]) >= 3:
        df = client.load_table(
            client.get_experiment_by_name(EXPERIMENT).experiment_id, "alignment/interventions.json"
        )
        assert list(df["tier"]) == ["High", "Medium", "Low"]
    finish(sqlite_uri, ref, **{"alignment.delta_version": "3"})
    done = client.get_run(ref.run_id)
    assert done.info.status == "FINISHED"
    assert done.data.tags["alignment.delta_version"] == "3"
    assert [a.path for a in client.list_artifacts(ref.run_id) if not a.is_dir] == ["report.html"]


def test_finished_run_is_reused_unless_new_run_or_changed(sqlite_uri: str) -> None:
    client = MlflowClient(sqlite_uri)
    first = start(sqlite_uri)
    assert not start(sqlite_uri).reused  # RUNNING runs are never reused
    client.set_terminated(first.run_id, "FINISHED")
    again = start(sqlite_uri)
    assert again.reused
    assert again.run_id == first.run_id
    assert not start(sqlite_uri, new_run=True).reused
    changed = make_spec("Another Project")
    assert not start(sqlite_uri, spec=changed).reused


def test_a_run_is_reused_only_for_the_verdict_it_recorded() -> None:
    was = Verdict("Data Freshness", "freshness", "", None, "unverifiable", "unverifiable",
                  "required", "as of then")  # fmt: skip
    then = (was,)
    tags = {VERDICT_TAG: verdict_digest(then)}
    assert reusable(tags, then, then)
    # Time passed, same status, other wording: still the verdict the run shows as of its start.
    assert reusable(tags, then, (replace(was, reason="as of now"),))
    # Another option (e.g. --freshness-reference) gives another verdict as of the run's start.
    assert not reusable(tags, (replace(was, reason="other"),), then)
    # The statuses moved since the run: a new run.
    assert not reusable(tags, then, (replace(was, status="passed"),))
    # A run that never recorded its verdict is never reused.
    assert not reusable({}, then, then)


def test_artifact_upload_failure_leaves_a_failed_run(sqlite_uri: str, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    client = MlflowClient(sqlite_uri)
    client.create_experiment("/Shared/broken", artifact_location=str(blocker / "artifacts"))
    with pytest.raises(TrackingError, match="uploading artifacts"):
        start(sqlite_uri, experiment="/Shared/broken")
    [run] = client.search_runs([client.get_experiment_by_name("/Shared/broken").experiment_id])
    assert run.info.status == "FAILED"
    assert "uploading artifacts" in run.data.tags["alignment.error"]


def test_a_server_that_is_down_is_named_without_mlflows_retries() -> None:
    """No MLFLOW_HTTP_REQUEST_* settings: the connect check answers before MLflow would retry a
    refused connection for minutes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://ana:pw@127.0.0.1:{port}"
    with pytest.raises(TrackingError, match="cannot be reached") as exc:
        start(uri)
    assert f"http://***@127.0.0.1:{port}" in str(exc.value)


def test_sqlite_artifacts_live_beside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    ref = start(uri)
    assert (tmp_path / "store" / "mlartifacts").is_dir()
    # MLflow 2.x makes an empty ./mlruns for its default experiment; nothing of ours lands there.
    assert [p for p in (elsewhere / "mlruns").rglob("*") if p.is_file()] == []
    assert ref.artifact_uri.startswith((tmp_path / "store" / "mlartifacts").as_uri())


# --------------------------------------------------------------------------- real server


def rest(server: str, endpoint: str, **params: str) -> dict[str, Any]:
    url = f"{server}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


@pytest.mark.mlflow_server
def test_server_run_is_complete_over_rest_within_the_request_budget(
    counting_proxy: CountingProxy,
) -> None:
    uri = counting_proxy.uri
    ref = start(uri, experiment="/Shared/alignment/request-count")
    finish(uri, ref)
    requests = list(counting_proxy.requests)
    print(f"\nrequests for one alignment run: {len(requests)}")
    for r in requests:
        print("  ", *r)
    # lookup + create experiment, search, create run, log-batch, log-inputs, the run's artifact
    # location (MLflow's public log_artifacts, once per run), 5 alignment/ uploads, final
    # log-batch, report.html upload, update
    assert len(requests) <= 15

    run = rest(counting_proxy.upstream_uri, "runs/get", run_id=ref.run_id)["run"]
    assert run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert params["tier.high.band"] == "(0.8, 1]"
    assert tags["mlflow.alignment.delta_version"] == "1"
    assert tags["mlflow.note.content"].startswith("**ALIGNED**")
    # What a reader sees on the real server, and the hidden fingerprint is searchable there.
    assert tagkeys.reader_keys(tags) == [
        "alignment.data",
        "alignment.status",
        "alignment.why",
    ]
    found = MlflowClient(counting_proxy.upstream_uri).search_runs(
        [run["info"]["experiment_id"]],
        filter_string=f"tags.`{tracking.FINGERPRINT_TAG}` = '{tags[tracking.FINGERPRINT_TAG]}'",
    )
    assert [r.info.run_id for r in found] == [ref.run_id]
    listed = rest(counting_proxy.upstream_uri, "artifacts/list", run_id=ref.run_id)
    assert {f["path"] for f in listed["files"]} >= {"report.html", "alignment"}
    url = f"{counting_proxy.upstream_uri}/get-artifact?" + urllib.parse.urlencode(
        {"path": "report.html", "run_uuid": ref.run_id}
    )
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert b'<table id="tiers">' in resp.read()


def test_orphaned_running_runs_are_closed_but_live_or_foreign_ones_are_not(sqlite_uri: str) -> None:
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    client = MlflowClient(sqlite_uri)
    exp_id = client.create_experiment(EXPERIMENT)
    fp = tracking.run_fingerprint(context(), sqlite_uri, "")
    now = int(time.time() * 1000)
    hours_ago = now - 2 * 3600 * 1000
    owners = {
        "dead": (f"{host}:{dead.pid}", now),
        "live": (f"{host}:{os.getpid()}", now),
        "foreign": ("elsewhere:1", now),
        "foreign, lease run out": ("job-cluster-7:1", hours_ago),
    }
    ids = {
        name: client.create_run(
            exp_id,
            start_time=started,
            tags={tracking.FINGERPRINT_TAG: fp, orphans.OWNER_TAG: owner},
        ).info.run_id
        for name, (owner, started) in owners.items()
    }
    ref = start(sqlite_uri)
    assert not ref.reused
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {
        "dead": "FAILED",
        "live": "RUNNING",
        "foreign": "RUNNING",
        "foreign, lease run out": "FAILED",
    }
    assert "orphaned" in client.get_run(ids["dead"]).data.tags["alignment.error"]
    assert "lease" in client.get_run(ids["foreign, lease run out"]).data.tags["alignment.error"]
    assert client.get_run(ref.run_id).data.tags[orphans.LEASE_TAG] == "3600"


@pytest.mark.parametrize(
    "location",
    # (MLflow has no dbfs dataset source: artifact_dataset_sources excludes the scheme)
    ["/Volumes/main/churn/findings/x_findings.yaml", str(CLEAN)],
)
def test_the_findings_input_reads_back_as_mlflows_own_dataset_source(
    sqlite_uri: str, location: str
) -> None:
    """``mlflow.data.get_source`` rebuilds the source from what we logged: a UC volume source
    takes ``{"path"}`` (``UCVolumeDatasetSource``), the artifact sources ``{"uri"}``."""
    import mlflow.data

    client = MlflowClient(sqlite_uri)
    exp_id = client.create_experiment(EXPERIMENT)
    run = client.create_run(exp_id)
    ref = tracking.RunRef(sqlite_uri, exp_id, run.info.run_id, None, False, 0)
    tracking._log_findings_input(client, replace(context(), findings_location=location), ref)
    [given] = client.get_run(run.info.run_id).inputs.dataset_inputs
    source = mlflow.data.get_source(given)
    assert location in json.dumps(source.to_dict())


def test_only_a_sqlite_store_needs_sqlalchemy_and_alembic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "alembic", None)
    with pytest.raises(TargetError, match=r"needs alembic \(not installed\).*\[sqlite\]"):
        uris.check_experiment_name("churn", f"sqlite:///{tmp_path / 'mlflow.db'}")
    uris.check_experiment_name("churn", "http://127.0.0.1:5000")
    uris.check_experiment_name("/Shared/alignment/churn", "databricks")
