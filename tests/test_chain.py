"""The chain (issue 22): alignment run -> plans and gated versions (latest first, with verdicts)
and back, as real links; bounded, idempotent, current."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from _gate_model import TrainedModel, train_and_register
from alignment_mlflow import align, gate, plan, tagkeys
from alignment_mlflow.tracking import chain
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC
from test_plan import scores_table

CLEAN = "subscription_clean_408768_findings.yaml"
ALIGNED = "subscription_aligned_408768_findings.yaml"
# Links open MLflow 3's UI in its "Model training" mode (else a fresh browser shows GenAI).
ML = "?workflowType=machine_learning"


def test_the_record_is_bounded_idempotent_latest_first() -> None:
    text = None
    for i in range(chain.LIMIT + 3):
        text = chain.add(text, "plans", chain.entry(f"r{i}", f"plan {i}", f"#/r{i}", "ok"))
    items = chain.load(text)["plans"]
    assert len(items) == chain.LIMIT
    assert items[0]["ref"] == f"r{chain.LIMIT + 2}"  # latest first
    same = chain.add(text, "plans", items[0])
    assert same == text  # the same entry again: unchanged
    moved = chain.add(text, "plans", {**items[-1], "verdict": "changed"})
    assert chain.load(moved)["plans"][0]["ref"] == items[-1]["ref"]
    assert len(chain.load(moved)["plans"]) == chain.LIMIT
    assert "r5" not in json.dumps(chain.load(chain.remove(text, "plans", "r5")))
    assert chain.load("not json") == {"plans": [], "outcomes": [], "models": []}


def test_the_section_is_kept_last_and_replaced_not_repeated() -> None:
    text = chain.add(
        None, "models", chain.entry("models:/m/1", "models:/m/1", "#/models/m/versions/1", "passed")
    )
    part = chain.section(text)
    assert "[models:/m/1](#/models/m/versions/1): **passed**" in part
    once = chain.splice("verdict\n\nbody", part)
    assert chain.splice(once, part) == once
    assert once.endswith(part)
    assert chain.splice(once, "") == "verdict\n\nbody"
    assert chain.splice("user text", chain.version_section("a", "#/a", "#/b", "passed", "aligned"),
                        chain.VERSION_SECTION).startswith("user text\n\n#### Alignment")  # fmt: skip


def _links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)]+)\)", markdown)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for name in (CLEAN, ALIGNED):
        shutil.copy2(FINDINGS_FIXTURES / name, tmp_path / name)
    kw = {"tracking_uri": uri, "tiers_table": str(tmp_path / "tiers")}
    first = align(tmp_path / CLEAN, TEMPLATE_SPEC, **kw)
    other = align(tmp_path / ALIGNED, TEMPLATE_SPEC, **kw)
    scores = tmp_path / "scores.parquet"
    pq.write_table(scores_table(500), scores)
    return {"uri": uri, "tmp": tmp_path, "first": first, "other": other, "scores": scores}


def test_alignment_run_plans_and_versions_link_both_ways_and_stay_current(
    world: dict[str, Any],
) -> None:
    uri, tmp = world["uri"], world["tmp"]
    client = MlflowClient(uri, uri)
    first, other = world["first"], world["other"]
    planned = plan(str(world["scores"]), str(tmp / CLEAN), tracking_uri=uri)
    model: TrainedModel = train_and_register(uri, name="chained", latency_s=0.02)
    gated = gate(tmp / CLEAN, model_version=model.uri, tracking_uri=uri)

    # The experiment: what the project is, and the latest verdict per dataset, linked.
    exp_note = client.get_experiment(first.experiment_id).tags["mlflow.note.content"]
    assert "Churn" in exp_note.splitlines()[0]
    for result in (first, other):
        assert f"#/experiments/{first.experiment_id}/runs/{result.run_id}{ML}" in _links(exp_note)
        assert f"**{result.status.replace('_', ' ').upper()}**" in exp_note

    # The alignment run: its plan and its gated version, with verdicts, as links.
    note = client.get_run(first.run_id).data.tags["mlflow.note.content"]
    assert note.splitlines()[0].startswith("**NEEDS REVIEW**")
    assert chain.SECTION in note
    links = _links(note.split(chain.SECTION)[1])
    assert f"#/experiments/{planned.experiment_id}/runs/{planned.run_id}{ML}" in links
    assert f"#/models/chained/versions/{model.version}" in links
    assert f": **{gated.verdict.verdict}**" in note
    # The plan run: verdict first, a link back to its alignment run.
    plan_tags = client.get_run(planned.run_id).data.tags
    assert plan_tags["mlflow.note.content"].startswith("**PLAN**: ")
    assert f"#/experiments/{first.experiment_id}/runs/{first.run_id}{ML}" in _links(
        plan_tags["mlflow.note.content"]
    )
    assert plan_tags["alignment.run"] == first.run_id
    assert tagkeys.reader_keys(plan_tags) == [
        "alignment.run", "plan.parity_met", "plan.within_budget"
    ]  # fmt: skip
    # The alignment run with its chain: still its three tags in view (the record is hidden).
    shown = tagkeys.reader_keys(client.get_run(first.run_id).data.tags)
    assert shown == ["alignment.data", "alignment.status", "alignment.why"]
    # The version: links to its alignment run and to the judged run.
    mv = client.get_model_version("chained", model.version)
    assert f"#/experiments/{first.experiment_id}/runs/{first.run_id}{ML}" in _links(mv.description)
    model_page = f"#/experiments/{model_exp(client, model)}/runs/{model.run_id}{ML}"
    assert model_page in _links(mv.description)

    # Idempotent: the same gate and a reused alignment keep it all, writing nothing new.
    assert gate(tmp / CLEAN, model_version=model.uri, tracking_uri=uri).writes == ()
    again = align(tmp / CLEAN, TEMPLATE_SPEC, tracking_uri=uri, tiers_table=str(tmp / "tiers"))
    assert again.reused_run
    kept = client.get_run(first.run_id).data.tags["mlflow.note.content"]
    assert kept.split(chain.SECTION)[1] == note.split(chain.SECTION)[1]

    # Current: the version re-gated against another alignment moves there.
    gate(tmp / ALIGNED, model_version=model.uri, tracking_uri=uri)
    moved_from = client.get_run(first.run_id).data.tags
    assert f"#/models/chained/versions/{model.version}" not in moved_from["mlflow.note.content"]
    assert chain.load(moved_from[chain.CHAIN_TAG])["models"] == []
    moved_to = client.get_run(other.run_id).data.tags["mlflow.note.content"]
    assert f"#/models/chained/versions/{model.version}" in moved_to
    mv = client.get_model_version("chained", model.version)
    assert f"runs/{other.run_id}" in mv.description
    assert f"runs/{first.run_id}" not in mv.description
    assert mv.description.count(chain.VERSION_SECTION) == 1


def model_exp(client: MlflowClient, model: TrainedModel) -> str:
    return str(client.get_run(model.run_id).info.experiment_id)
