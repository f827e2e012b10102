"""``alignment-mlflow outcomes`` on the Arrow path: the JSON contract, bad input refused with
nothing written, the run reused for the same inputs, and the verdict shown on the plan and
alignment runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import write_deltalake
from mlflow import MlflowClient

import _campaign
from alignment_mlflow import tagkeys
from alignment_mlflow.cli import cli
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

SPEC = load_spec(TEMPLATE_SPEC)
TIER_KEYS = {"tier", "treated", "holdout", "churn_treated", "churn_holdout", "reduction",
             "reduction_ci", "realised_saves", "cost_per_save", "verdict"}  # fmt: skip


def write(
    tmp_path: Path, c: _campaign.Campaign, outcomes: pa.Table | None = None
) -> tuple[str, str]:
    assignments = tmp_path / "assignments"
    write_deltalake(str(assignments), c.assignments, mode="overwrite", schema_mode="overwrite")
    out = tmp_path / "outcomes.parquet"
    pq.write_table(outcomes if outcomes is not None else c.outcomes, out)
    return str(assignments), str(out)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["outcomes", *args], catch_exceptions=False)


@pytest.fixture
def campaign(tmp_path: Path, mlflow_server: str) -> tuple[str, str, str, _campaign.Campaign]:
    """A campaign and the session's MLflow server (a sqlite store's migrations cost ~10 s per
    test); each test its own experiment, so runs of other tests are never reused."""
    c = _campaign.make(3, spec_sha256=SPEC.sha256)
    a, o = write(tmp_path, c)
    return a, o, mlflow_server, c


def experiment(tmp_path: Path) -> list[str]:
    return ["--experiment", f"/outcomes-tests/{tmp_path.name}"]


def test_json_is_one_object_with_exactly_the_contracts_keys(campaign: Any, tmp_path: Path) -> None:
    a, o, uri, c = campaign
    args = ["--assignments", a, "--outcomes", o, "--spec", str(TEMPLATE_SPEC),
            "--tracking-uri", uri, "--json", *experiment(tmp_path)]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"campaign", "tiers", "programme", "srm_p", "verdict", "run_id", "timings"}
    assert out["campaign"] == "2026-01"
    assert [t["tier"] for t in out["tiers"]] == ["High", "Medium", "Low"]
    for t in out["tiers"]:
        assert set(t) >= TIER_KEYS
        assert (
            t["treated"] + t["holdout"]
            == {"High": 4_000, "Medium": 12_000, "Low": 30_000}[t["tier"]]
        )
        low, high = t["reduction_ci"]
        assert low <= t["reduction"] <= high
    held = pc.sum(pc.equal(c.assignments["arm"], "holdout")).as_py()
    assert out["programme"]["holdout"] == held
    assert out["programme"]["target"] == 0.2
    assert out["programme"]["metric"] == "Churn Rate Reduction"
    assert out["verdict"] == out["programme"]["verdict"]
    run = MlflowClient(uri).get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["outcome.verdict"] == out["verdict"]
    assert run.data.tags["mlflow.note.content"].startswith(f"**{out['verdict'].upper()}")

    again = json.loads(invoke(*args).stdout)
    assert again["run_id"] == out["run_id"]  # the same inputs: the finished run is reused
    assert len(MlflowClient(uri).search_runs([run.info.experiment_id])) == 1


def test_the_summary_reads_per_tier_and_ends_with_the_verdict(
    campaign: Any, tmp_path: Path
) -> None:
    a, o, uri, _ = campaign
    result = invoke("--assignments", a, "--outcomes", o, "--spec", str(TEMPLATE_SPEC),
                    "--tracking-uri", uri, *experiment(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "programme: reduction" in result.output
    assert "Churn Rate Reduction 20%:" in result.output
    assert "sample ratio: p =" in result.output


def _refused(tmp_path: Path, a: str, o: str, *extra: str) -> str:
    uri = f"sqlite:///{tmp_path / 'refused.db'}"
    result = invoke("--assignments", a, "--outcomes", o, "--spec", str(TEMPLATE_SPEC),
                    "--tracking-uri", uri, "--json", *extra)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "refused.db").exists()  # nothing written, not even a store
    body = json.loads(result.stdout)
    assert body["exit_code"] == 2
    return str(body["error"])


def test_ids_missing_on_either_side_are_counted_and_refused(tmp_path: Path) -> None:
    c = _campaign.make(4, spec_sha256=SPEC.sha256)
    extra = pa.table({"customer_id": pa.array([10**9, 10**9 + 1]), "churned": pa.array([0, 1])})
    fewer = c.outcomes.slice(5)  # 5 assigned customers without an outcome
    a, o = write(tmp_path, c, pa.concat_tables([fewer, extra]))
    message = _refused(tmp_path, a, o)
    assert "2 of 45,997 outcome rows" in message
    assert "5 of 46,000 assigned customers have no outcome" in message


def test_bad_outcome_values_duplicates_and_missing_columns_are_refused(tmp_path: Path) -> None:
    c = _campaign.make(5, spec_sha256=SPEC.sha256)
    words = pa.array(
        ["yes" if i == 0 else "true" if i % 2 else "0" for i in range(len(c.outcomes))]
    )
    a, o = write(tmp_path, c, c.outcomes.set_column(1, "churned", words))
    assert "1 outcome values" in _refused(tmp_path, a, o)
    assert "'yes'" in _refused(tmp_path, a, o)
    twice = pa.concat_tables([c.outcomes, c.outcomes.slice(0, 3)])
    a, o = write(tmp_path, c, twice)
    assert "3 customers have more than one outcome row" in _refused(tmp_path, a, o)
    a, o = write(tmp_path, c, c.outcomes.rename_columns(["customer_id", "left"]))
    assert "has no column churned" in _refused(tmp_path, a, o)
    assert _refused(tmp_path, a, o, "--churned-column", "nope")
    a, o = write(tmp_path, _campaign.Campaign(c.assignments.drop(["arm"]), c.outcomes, *(
        c.scores, c.tier, c.held, c.churned)))  # fmt: skip
    assert "plan with --holdout" in _refused(tmp_path, a, o)


def test_campaigns_are_chosen_or_asked_for(tmp_path: Path, mlflow_server: str) -> None:
    one = _campaign.make(6, spec_sha256=SPEC.sha256, campaign="2026-01")
    two = _campaign.make(7, spec_sha256=SPEC.sha256, campaign="2026-02", id_offset=10**6)
    both = _campaign.Campaign(pa.concat_tables([one.assignments, two.assignments]),
                              one.outcomes, one.scores, one.tier, one.held, one.churned)  # fmt: skip
    a, o = write(tmp_path, both)
    assert "pass --campaign" in _refused(tmp_path, a, o)
    assert "campaign '2026-03' has no assignments" in _refused(
        tmp_path, a, o, "--campaign", "2026-03"
    )
    result = invoke("--assignments", a, "--outcomes", o, "--spec", str(TEMPLATE_SPEC),
                    "--tracking-uri", mlflow_server, "--json", "--campaign", "2026-01",
                    *experiment(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["campaign"] == "2026-01"


def test_assignments_of_another_spec_are_refused(tmp_path: Path) -> None:
    c = _campaign.make(8, spec_sha256="f" * 64)
    a, o = write(tmp_path, c)
    assert "planned with spec ffffffffffff" in _refused(tmp_path, a, o)


def test_the_verdict_is_shown_on_the_plan_and_alignment_runs(
    tmp_path: Path, mlflow_server: str
) -> None:
    uri = mlflow_server
    client = MlflowClient(uri)
    exp = client.create_experiment(f"/outcomes-tests/{tmp_path.name}")
    align = client.create_run(exp, tags={"mlflow.note.content": "**ALIGNED**: ok"}).info.run_id
    plan = client.create_run(exp, tags={"alignment.run": align,
                                        "mlflow.note.content": "**PLAN**: ok"}).info.run_id  # fmt: skip
    c = _campaign.make(9, spec_sha256=SPEC.sha256)
    plan_ids = pa.array([plan] * len(c.assignments))
    assigned = c.assignments.set_column(
        c.assignments.schema.get_field_index("plan_run_id"), "plan_run_id", plan_ids
    )
    a, o = write(tmp_path, _campaign.Campaign(assigned, c.outcomes, c.scores, c.tier, c.held,
                                              c.churned))  # fmt: skip
    result = invoke("--assignments", a, "--outcomes", o, "--spec", str(TEMPLATE_SPEC),
                    "--tracking-uri", uri, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rid, verdict = out["run_id"], out["verdict"]
    run = client.get_run(rid)
    assert run.info.experiment_id == exp
    assert run.data.tags["plan.run"] == plan
    assert run.data.tags["alignment.run"] == align
    shown = client.get_run(align).data.tags
    assert shown["mlflow.alignment.outcome.churn_rate_reduction"] == verdict
    # The (bare) alignment run shows the outcome's verdict and run, the per-metric key hidden.
    assert tagkeys.reader_keys(shown) == ["outcome.run_id", "outcome.verdict"]
    assert tagkeys.reader_keys(run.data.tags) == [
        "alignment.run", "outcome.metric", "outcome.srm", "outcome.verdict", "plan.run",
    ]  # fmt: skip
    assert shown["outcome.run_id"] == rid
    note = shown["mlflow.note.content"]
    assert note.startswith("**ALIGNED**: ok")
    assert "Campaign outcomes" in note
    assert f"runs/{rid}" in note
    assert f"Churn Rate Reduction 20%: {verdict.upper().replace('_', ' ')}" in note
    plan_tags = client.get_run(plan).data.tags
    assert plan_tags["outcome.run_id"] == rid
    assert tagkeys.reader_keys(plan_tags) == ["alignment.run", "outcome.run_id", "outcome.verdict"]
    assert "#### Campaign outcome" in plan_tags["mlflow.note.content"]
    before = {r: client.get_run(r).data.tags for r in (align, plan)}
    again = invoke("--assignments", a, "--outcomes", o, "--spec", str(TEMPLATE_SPEC),
                   "--tracking-uri", uri, "--json")  # fmt: skip
    assert json.loads(again.stdout)["run_id"] == rid
    assert {r: client.get_run(r).data.tags for r in (align, plan)} == before
