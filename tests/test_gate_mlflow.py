"""The gate against real stores: a sqlite tracking + registry store, and the session's
`mlflow server` over REST with every request counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient

from _gate_model import TrainedModel, train_and_register
from _mlflow_server import CountingProxy
from _specs import spec_data
from alignment_mlflow import gate, tagkeys
from alignment_mlflow.cli import cli
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, TrainedModel]:
    """One sqlite store holding a trained, registered sklearn model (p99 latency fixed at 85 ms
    so the verdict does not depend on this machine's load)."""
    root = tmp_path_factory.mktemp("gate-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, train_and_register(uri, latency_s=0.085)


def quick_model(uri: str, name: str, metrics: dict[str, float]) -> tuple[str, str]:
    """A run with metrics and a registered version, without training (for bad-input cases)."""
    client = MlflowClient(uri, uri)
    exp = client.get_experiment_by_name("/Shared/quick") or client.create_experiment(
        "/Shared/quick"
    )
    exp_id = exp if isinstance(exp, str) else exp.experiment_id
    run = client.create_run(exp_id)
    for k, v in metrics.items():
        client.log_metric(run.info.run_id, k, v)
    client.create_registered_model(name)
    mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    return run.info.run_id, str(mv.version)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["gate", *args], catch_exceptions=False)


def alignment_tags(client: MlflowClient, run_id: str) -> dict[str, str]:
    tags = client.get_run(run_id).data.tags
    return {k: v for k, v in tags.items() if k.startswith(("alignment", "mlflow.alignment."))}


def write_spec(tmp_path: Path, **changes: Any) -> Path:
    data = spec_data()
    data.update(changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_good_model_passes_is_tagged_promoted_and_a_rerun_writes_nothing(
    store: tuple[str, TrainedModel], tmp_path: Path
) -> None:
    uri, model = store
    args = ["--spec", str(TEMPLATE_SPEC), "--model-version", model.uri, "--tracking-uri", uri]
    first = invoke(*args, "--promote-alias", "champion", "--json")
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert out["verdict"] == "passed"
    assert out["alias_set"] is True
    assert out["run_id"] == model.run_id
    assert out["model_version"] == model.uri
    by = {m["metric"]: m for m in out["metrics"]}
    assert by["model_latency"] == {
        "metric": "model_latency",
        "target": "< 100ms",
        "metric_key": "latency_p99_s",
        "value": 0.085,
        "status": "met",
    }
    assert by["churn_rate_reduction"]["status"] == "deferred"

    client = MlflowClient(uri, uri)
    tags = alignment_tags(client, model.run_id)
    assert tags["alignment.verdict"] == "passed"
    # The model run's Tags panel: the verdict, why, what was known of the data (tagkeys).
    assert tagkeys.reader_keys(tags) == [
        "alignment.check", "alignment.verdict", "alignment.why"
    ]  # fmt: skip
    assert tags["alignment.why"] == "churn_rate_reduction: deferred"
    assert tags["mlflow.alignment.verdict.model_auc"] == "met"
    assert tags["mlflow.alignment.spec_sha256"] == out["spec_sha256"]
    mv = client.get_model_version(model.name, model.version)
    assert mv.tags["alignment_verdict"] == "passed"
    assert mv.tags["alignment_spec_sha256"] == out["spec_sha256"]
    assert str(client.get_model_version_by_alias(model.name, "champion").version) == model.version
    # The table in log_table's format, listed where the UI and load_table look for it.
    local = client.download_artifacts(model.run_id, "alignment_gate/verdict.json", str(tmp_path))
    table = json.loads(Path(local).read_text())
    assert {row[-1] for row in table["data"]} == {"met", "deferred"}
    listed = json.loads(client.get_run(model.run_id).data.tags["mlflow.loggedArtifacts"])
    assert {"path": "alignment_gate/verdict.json", "type": "table"} in listed

    # The same gate again: same verdict, nothing written (tags keep their values and count).
    before = client.get_run(model.run_id).data.tags
    again = gate(TEMPLATE_SPEC, model_version=model.uri, tracking_uri=uri, promote_alias="champion")
    assert again.verdict.verdict == "passed"
    assert again.alias_set
    assert again.writes == ()
    assert client.get_run(model.run_id).data.tags == before


def test_a_model_below_target_fails_and_keeps_the_alias_away(
    store: tuple[str, TrainedModel], tmp_path: Path
) -> None:
    uri, model = store
    data = spec_data()
    data["success_metrics"][0]["target"] = ">= 0.99"  # Model AUC
    spec = write_spec(tmp_path, success_metrics=data["success_metrics"])
    run_id, version = quick_model(uri, "below_target", dict(model.metrics))
    result = invoke(
        "--spec", str(spec), "--model-version", f"models:/below_target/{version}",
        "--tracking-uri", uri, "--promote-alias", "champion",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "verdict: failed" in result.output
    assert "alias champion not set: the verdict is failed" in result.output
    client = MlflowClient(uri, uri)
    assert alignment_tags(client, run_id)["mlflow.alignment.verdict.model_auc"] == "unmet"
    assert client.get_model_version("below_target", version).aliases == []
    assert client.get_model_version("below_target", version).tags["alignment_verdict"] == "failed"


def test_a_missing_high_metric_is_incomplete_exit_3_unless_allowed(
    store: tuple[str, TrainedModel],
) -> None:
    uri, _ = store
    run_id, _ = quick_model(uri, "no_auc", {"precision_at_20pct": 0.7, "latency_p99_s": 0.01})
    args = ["--spec", str(TEMPLATE_SPEC), "--model-run", run_id, "--tracking-uri", uri]
    result = invoke(*args)
    assert result.exit_code == 3
    assert "not_measured" in result.output
    assert "looked for 'roc_auc', 'model_auc'" in result.output
    allowed = invoke(*args, "--allow-incomplete", "--json")
    assert allowed.exit_code == 0
    assert json.loads(allowed.stdout)["verdict"] == "incomplete"
    assert alignment_tags(MlflowClient(uri, uri), run_id)["alignment.verdict"] == "incomplete"


def test_metric_mapping_from_the_command_line_and_tag_versions(
    store: tuple[str, TrainedModel],
) -> None:
    uri, _ = store
    run_id, version = quick_model(
        uri, "mapped", {"val_auc": 0.9, "prec_top20": 0.7, "serve_ms": 40.0}
    )
    result = invoke(
        "--spec", str(TEMPLATE_SPEC), "--model-run", run_id, "--tracking-uri", uri,
        "--metric", "model_auc=val_auc", "--metric", "precision_at_20pct=prec_top20",
        "--metric", "model_latency=serve_ms", "--tag-versions", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    keys = {m["metric"]: m["metric_key"] for m in json.loads(result.stdout)["metrics"]}
    assert keys["model_latency"] == "serve_ms"
    tags = MlflowClient(uri, uri).get_model_version("mapped", version).tags
    assert tags["alignment_verdict"] == "passed"


def test_a_newer_spec_replaces_the_verdict_and_drops_stale_metric_tags(
    store: tuple[str, TrainedModel], tmp_path: Path
) -> None:
    uri, _ = store
    run_id, _ = quick_model(uri, "respec", {"roc_auc": 0.9, "latency_p99_s": 0.01})
    gate(TEMPLATE_SPEC, model_run=run_id, tracking_uri=uri)
    spec = write_spec(
        tmp_path,
        success_metrics=[{"metric": "Model AUC", "target": "> 0.95", "mlflow_metric": "roc_auc"}],
    )
    result = gate(spec, model_run=run_id, tracking_uri=uri)
    assert result.verdict.verdict == "failed"
    tags = alignment_tags(MlflowClient(uri, uri), run_id)
    assert sorted(k for k in tags if k.startswith("mlflow.alignment.verdict.")) == [
        "mlflow.alignment.verdict.model_auc"
    ]
    assert tags["mlflow.alignment.verdict.model_auc"] == "unmet"


def test_bad_input_exits_2_and_writes_nothing(
    store: tuple[str, TrainedModel], tmp_path: Path
) -> None:
    uri, model = store
    run_id, version = quick_model(uri, "untouched", dict(model.metrics))
    business = write_spec(
        tmp_path,
        success_metrics=[
            {"metric": "Churn Rate Reduction", "target": "20%", "measured_on": "business"}
        ],
    )
    spec, base = str(TEMPLATE_SPEC), ["--tracking-uri", uri]
    cases = [
        (["--spec", spec, "--model-run", "0" * 32], "no run '000"),
        (["--spec", spec, "--model-version", "models:/untouched/99"], "no registered model version"),
        (["--spec", spec, "--model-version", "models:/nobody/1"], "no registered model version"),
        (["--spec", spec, "--model-run", run_id, "--metric", "model_auc=val_auc"], "logged no metric 'val_auc'"),
        (["--spec", spec, "--model-run", run_id, "--metric", "model_acu=roc_auc"], "did you mean 'model_auc'"),
        (["--spec", str(business), "--model-run", run_id], "no measurable success metric"),
        (["--spec", spec, "--model-run", run_id, "--promote-alias", "champion"], "needs --model-version"),
        (["--spec", spec, "--model-version", f"models:/untouched/{version}", "--promote-alias", "latest"], "not a usable alias"),
        (["--spec", spec], "exactly one of"),
        (["--spec", str(tmp_path / "missing.yaml"), "--model-run", run_id], "file not found"),
    ]  # fmt: skip
    client = MlflowClient(uri, uri)
    for args, message in cases:
        result = invoke(*args, *base)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert alignment_tags(client, run_id) == {}
    mv = client.get_model_version("untouched", version)
    assert mv.tags == {}
    assert mv.aliases == []


def test_an_aligned_findings_file_links_the_model_and_the_alignment_run(
    store: tuple[str, TrainedModel], tmp_path: Path
) -> None:
    from alignment_mlflow import align

    uri, _ = store
    folder = tmp_path / "findings"
    folder.mkdir()
    src = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"
    shutil.copy2(src, folder / src.name)
    aligned = align(
        folder / src.name, TEMPLATE_SPEC, tracking_uri=uri, tiers_table=str(tmp_path / "tiers")
    )
    run_id, version = quick_model(uri, "from_findings", {"roc_auc": 0.9, "latency_p99_s": 0.01})
    ref = f"models:/from_findings/{version}"
    result = gate(folder / src.name, model_version=ref, tracking_uri=uri)
    assert result.alignment_run_id == aligned.run_id
    client = MlflowClient(uri, uri)
    assert alignment_tags(client, run_id)["alignment.run"] == aligned.run_id
    assert client.get_model_version("from_findings", version).tags["alignment_run_id"] == (
        aligned.run_id
    )
    gated = json.loads(client.get_run(aligned.run_id).data.tags["mlflow.alignment.gated_models"])
    assert gated == {ref: result.verdict.verdict}
    assert gate(folder / src.name, model_version=ref, tracking_uri=uri).writes == ()


@pytest.mark.mlflow_server
def test_over_rest_a_gate_costs_a_handful_of_requests_and_a_rerun_writes_nothing(
    counting_proxy: CountingProxy,
) -> None:
    uri = counting_proxy.uri
    model = train_and_register(uri, name="rest_gate", latency_s=0.02)
    counting_proxy.requests.clear()
    result = gate(TEMPLATE_SPEC, model_version=model.uri, tracking_uri=uri, promote_alias="prod")
    first = list(counting_proxy.requests)
    counting_proxy.requests.clear()
    again = gate(TEMPLATE_SPEC, model_version=model.uri, tracking_uri=uri, promote_alias="prod")
    rerun = list(counting_proxy.requests)
    print(f"\nrequests for one gate: {len(first)}; rerun: {len(rerun)}")
    for r in first:
        print("  ", *r)
    assert result.verdict.verdict == again.verdict.verdict == "passed"
    # reads: version, logged model, run; writes: table, tags batch, 2 version tags, alias
    assert len(first) <= 8
    assert len(rerun) <= 3
    assert [r for r in rerun if r[0] in WRITES] == []
    assert again.writes == ()

    client = MlflowClient(counting_proxy.upstream_uri, counting_proxy.upstream_uri)
    assert client.get_run(model.run_id).data.tags["alignment.verdict"] == "passed"
    assert str(client.get_model_version_by_alias("rest_gate", "prod").version) == model.version


@pytest.mark.parametrize(
    ("tracking", "registry"),
    [("databricks", "databricks-uc"), ("databricks://prod", "databricks-uc://prod")],
)
def test_on_databricks_the_registry_is_unity_catalog_on_every_mlflow(
    tracking: str, registry: str
) -> None:
    """MLflow 2.x defaults a ``databricks`` registry to the workspace registry, where
    ``models:/main.churn.churn_model/1`` is not found; 3.x defaults to Unity Catalog."""
    from alignment_mlflow.gating.mlflow_io import make_client

    client = make_client(tracking)
    assert client._registry_uri == registry
    assert make_client(tracking, "databricks")._registry_uri == "databricks"


GOOD = {"roc_auc": 0.9, "precision_at_20pct": 0.7, "latency_p99_s": 0.05,
        "demographic_parity_ratio": 0.95}  # fmt: skip


def test_a_version_registered_by_mlflow_3_is_judged_on_its_run_on_any_mlflow(
    tmp_path: Path,
) -> None:
    """A version whose source is an MLflow 3 logged model (``models:/m-...``): MLflow 2.21/2.22
    have no ``get_logged_model``, so the gate judges the run's metrics instead of failing."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    run_id, _ = quick_model(uri, "from_mlflow3_source", GOOD)
    if hasattr(client, "create_logged_model"):  # MLflow 3: a real logged model, no metrics
        exp = client.get_run(run_id).info.experiment_id
        model_id = client.create_logged_model(exp, source_run_id=run_id).model_id
        mv = client.create_model_version("from_mlflow3_source", f"models:/{model_id}", run_id)
    else:  # MLflow 2 refuses that source: the row as MLflow 3 writes it in the same registry
        import sqlite3

        mv = client.create_model_version("from_mlflow3_source", "runs:/x/model", run_id)
        with sqlite3.connect(tmp_path / "mlflow.db") as db:
            db.execute(
                "UPDATE model_versions SET source = ? WHERE name = ? AND version = ?",
                ("models:/m-0123456789abcdef0123456789abcdef", mv.name, int(mv.version)),
            )
        assert client.get_model_version(mv.name, mv.version).source.startswith("models:/m-")
    result = gate(TEMPLATE_SPEC, model_version=f"models:/from_mlflow3_source/{mv.version}",
                  tracking_uri=uri)  # fmt: skip
    assert result.verdict.verdict == "passed", mlflow.__version__
    assert result.run_id == run_id
