"""The plan run reads like the alignment run (issue 22): a name that tells runs apart, the scores
as its input dataset, rounded figures, a description with the verdict first, pictures in
plan_report.html, and a notebook view."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from mlflow import MlflowClient

from alignment_mlflow import plan
from alignment_mlflow.bands.table import band_table
from alignment_mlflow.economics.plan_report import plan_report_html
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC
from test_plan import scores_table


def test_the_plan_run_has_a_name_a_dataset_rounded_figures_and_pictures(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    scores = tmp_path / "scores.parquet"
    pq.write_table(scores_table(700, seed=5), scores)
    first = plan(str(scores), str(TEMPLATE_SPEC), tracking_uri=uri, group_columns=["segment"])
    pq.write_table(scores_table(900, seed=6), scores)
    second = plan(str(scores), str(TEMPLATE_SPEC), tracking_uri=uri, group_columns=["segment"])
    client = MlflowClient(uri)
    runs = [client.get_run(str(r.run_id)) for r in (first, second)]
    names = [r.info.run_name for r in runs]
    assert len(set(names)) == 2
    assert names[0].startswith("plan-customer_churn_prediction-700-")

    run = runs[0]
    [inp] = run.inputs.dataset_inputs
    assert inp.dataset.name == "scores.parquet"
    assert json.loads(inp.dataset.source) == {"uri": str(scores)}
    assert json.loads(inp.dataset.profile) == {"num_rows": 700}
    assert inp.dataset.digest == run.data.params["scores_digest"][:12]
    for value in run.data.metrics.values():
        assert float(f"{value:.6g}") == value

    assert run.data.tags["mlflow.note.content"].startswith("**PLAN**: within budget")
    assert "| High&emsp; |" in run.data.tags["mlflow.note.content"]
    page = Path(client.download_artifacts(run.info.run_id, "plan_report.html", str(tmp_path)))
    text = page.read_text()
    assert text.count("<svg") == 3  # score bands, cost vs budget, paid share per segment
    assert "budget 50,000 USD" in text
    assert "parity floor" in text
    assert "<script" not in text
    assert "http" not in text

    html = first._repr_html_()
    assert "<table>" in html
    assert "within budget" in html


def test_the_report_is_escaped_and_draws_one_bar_per_tier() -> None:
    spec = load_spec(TEMPLATE_SPEC)
    from alignment_mlflow.economics.core import Economics

    e = Economics(0, (), 0.0, "USD", 0.0, None, None, None, None, None, (), None, None)
    page = plan_report_html(e, band_table(spec))
    assert page.count("<svg") == 2
    assert page.count("<rect") == 1  # no tiers tallied: only the total's (empty) bar
