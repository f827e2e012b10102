"""The alignment's verdict is part of the gate's (issue 22): a blocked alignment fails the gate
and keeps the alias where it was; needs_review is said and recorded; an override is explicit and
recorded; a plain spec says no alignment was checked. Against sqlite and the real server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from _gate_model import TrainedModel, train_and_register
from _mlflow_server import CountingProxy
from alignment_mlflow import align, gate
from alignment_mlflow.cli import cli
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CLEAN = "subscription_clean_408768_findings.yaml"  # needs_review: freshness unverifiable
TELCO = "telco_pii_churn_408768_findings.yaml"  # blocked: PII in the features


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One sqlite store: a trained model (whose metrics pass the template) and the two findings
    files aligned with the template."""
    root = tmp_path_factory.mktemp("gate-alignment")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    model = train_and_register(uri, latency_s=0.02)
    out: dict[str, Any] = {"uri": uri, "model": model}
    for name in (CLEAN, TELCO):
        shutil.copy2(FINDINGS_FIXTURES / name, root / name)
        result = align(root / name, TEMPLATE_SPEC, tracking_uri=uri, tiers_table=str(root / "t"))
        out[name] = (root / name, result)
    return out


def new_version(uri: str, name: str, model: TrainedModel, versions: int = 1) -> list[str]:
    """Registered versions of a run carrying the trained model's (passing) metrics."""
    client = MlflowClient(uri, uri)
    exp = client.get_experiment_by_name("/Shared/quick")
    exp_id = exp.experiment_id if exp else client.create_experiment("/Shared/quick")
    client.create_registered_model(name)
    out = []
    for _ in range(versions):
        run = client.create_run(exp_id)
        for k, v in model.metrics.items():
            client.log_metric(run.info.run_id, k, v)
        mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
        out.append(str(mv.version))
    return out


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["gate", *args], catch_exceptions=False)


def test_the_aligned_fixtures_have_the_statuses_these_tests_rely_on(store: dict[str, Any]) -> None:
    assert store[CLEAN][1].status == "needs_review"
    assert store[TELCO][1].status == "blocked"


def test_a_blocked_alignment_fails_a_good_model_and_the_alias_stays(store: dict[str, Any]) -> None:
    uri = store["uri"]
    old, new = new_version(uri, "blocked_model", store["model"], versions=2)
    client = MlflowClient(uri, uri)
    client.set_registered_model_alias("blocked_model", "champion", old)
    # The same model against the plain spec passes: the alignment is what fails it.
    plain = gate(TEMPLATE_SPEC, model_version=f"models:/blocked_model/{new}", tracking_uri=uri)
    assert plain.verdict.verdict == "passed"

    findings = str(store[TELCO][0])
    result = invoke(
        "--spec", findings, "--model-version", f"models:/blocked_model/{new}",
        "--tracking-uri", uri, "--promote-alias", "champion",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "verdict: failed" in result.output
    assert "alignment blocked" in result.output
    assert "PII Handling failed" in result.output  # the reason, named
    assert "alias champion not set" in result.output
    assert str(client.get_model_version_by_alias("blocked_model", "champion").version) == old
    mv = client.get_model_version("blocked_model", new)
    assert mv.tags["alignment_verdict"] == "failed"
    assert mv.tags["alignment_status"] == "blocked"
    run_tags = client.get_run(mv.run_id).data.tags
    assert run_tags["alignment.verdict"] == "failed"
    assert run_tags["alignment.check"] == "blocked"
    # --json says it too, in one object.
    again = invoke("--spec", findings, "--model-version", f"models:/blocked_model/{new}",
                   "--tracking-uri", uri, "--json")  # fmt: skip
    assert again.exit_code == 3
    out = json.loads(again.stdout)
    assert out["verdict"] == "failed"
    assert "PII Handling failed" in again.stderr


def test_the_override_is_explicit_and_recorded(store: dict[str, Any]) -> None:
    uri = store["uri"]
    [version] = new_version(uri, "overridden_model", store["model"])
    ref = f"models:/overridden_model/{version}"
    findings = str(store[TELCO][0])
    empty = invoke("--spec", findings, "--model-version", ref, "--tracking-uri", uri,
                   "--allow-blocked-alignment", " ")  # fmt: skip
    assert empty.exit_code == 2
    assert "needs a reason" in empty.output
    client = MlflowClient(uri, uri)
    assert client.get_model_version("overridden_model", version).tags == {}

    why = "PII columns are dropped in the feature pipeline (ticket 42)"
    result = invoke("--spec", findings, "--model-version", ref, "--tracking-uri", uri,
                    "--promote-alias", "champion", "--allow-blocked-alignment", why)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "overridden: " + why in result.output
    mv = client.get_model_version("overridden_model", version)
    assert mv.tags["alignment_status"] == f"blocked; overridden: {why}"
    assert mv.aliases == ["champion"]
    assert client.get_run(mv.run_id).data.tags["alignment.check"] == (f"blocked; overridden: {why}")


def test_needs_review_is_said_and_recorded_and_a_plain_spec_says_nothing_was_checked(
    store: dict[str, Any],
) -> None:
    uri = store["uri"]
    [version] = new_version(uri, "review_model", store["model"])
    ref = f"models:/review_model/{version}"
    client = MlflowClient(uri, uri)
    # A plain spec: said, and nothing recorded on a version that never had an alignment.
    plain = invoke("--spec", str(TEMPLATE_SPEC), "--model-version", ref, "--tracking-uri", uri)
    assert plain.exit_code == 0, plain.output
    assert "no alignment checked" in plain.output
    assert "alignment_status" not in client.get_model_version("review_model", version).tags
    # Overriding with a plain spec is bad input: nothing to override.
    bad = invoke("--spec", str(TEMPLATE_SPEC), "--model-version", ref, "--tracking-uri", uri,
                 "--allow-blocked-alignment", "why")  # fmt: skip
    assert bad.exit_code == 2
    assert "plain spec" in bad.output

    review = invoke("--spec", str(store[CLEAN][0]), "--model-version", ref, "--tracking-uri", uri)
    assert review.exit_code == 0, review.output
    assert "alignment needs review: Data Freshness unverifiable" in review.output
    assert client.get_model_version("review_model", version).tags["alignment_status"] == (
        "needs_review"
    )
    # Re-gated against a plain spec: the record moves with it, it does not stay stale.
    gate(TEMPLATE_SPEC, model_version=ref, tracking_uri=uri)
    assert client.get_model_version("review_model", version).tags["alignment_status"] == (
        "not_checked"
    )


@pytest.mark.mlflow_server
def test_over_rest_a_blocked_alignment_fails_and_the_alias_stays(
    counting_proxy: CountingProxy, tmp_path: Path
) -> None:
    uri = counting_proxy.uri
    shutil.copy2(FINDINGS_FIXTURES / TELCO, tmp_path / TELCO)
    aligned = align(tmp_path / TELCO, TEMPLATE_SPEC, tracking_uri=uri, tiers_table=str(tmp_path))
    assert aligned.status == "blocked"
    model = train_and_register(uri, name="rest_blocked", latency_s=0.02)
    client = MlflowClient(counting_proxy.upstream_uri, counting_proxy.upstream_uri)
    assert not client.get_model_version(model.name, model.version).aliases
    result = gate(tmp_path / TELCO, model_version=model.uri, tracking_uri=uri, promote_alias="prod")
    assert result.verdict.verdict == "failed"
    assert result.exit_code() == 3
    assert not result.alias_set
    assert any("PII Handling" in n for n in result.notes)
    mv = client.get_model_version(model.name, model.version)
    assert mv.aliases == []
    assert mv.tags["alignment_status"] == "blocked"
    assert mv.tags["alignment_verdict"] == "failed"
