"""The gated model's run as an engineer sees it: verdict tags on the run page of the real
MLflow UI, in headless Chromium (Debian's build)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _gate_model import train_and_register
from alignment_mlflow import gate
from conftest import TEMPLATE_SPEC

pytestmark = [pytest.mark.browser, pytest.mark.mlflow_server]


def test_run_page_shows_the_verdict_tags(browser: Any, mlflow_server: str, tmp_path: Path) -> None:
    model = train_and_register(mlflow_server, name="ui_gate", latency_s=0.2)  # 200 ms: unmet
    result = gate(TEMPLATE_SPEC, model_version=model.uri, tracking_uri=mlflow_server)
    assert result.verdict.verdict == "failed"
    from mlflow import MlflowClient

    exp_id = MlflowClient(mlflow_server).get_run(model.run_id).info.experiment_id
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    context.add_init_script("window.localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false')")
    page = context.new_page()
    page.goto(
        f"{mlflow_server}/#/experiments/{exp_id}/runs/{model.run_id}?workflowType=machine_learning",
        wait_until="load",
        timeout=60_000,
    )
    page.get_by_text("alignment.why").first.wait_for(timeout=60_000)
    body = page.locator("body").inner_text()
    page.screenshot(path=str(tmp_path / "gated-run.png"), full_page=True)
    for tag, value in (
        ("alignment.verdict", "failed"),
        ("alignment.why", "model_latency: unmet"),
    ):
        assert tag in body
        assert value in body
    assert "alignment.verdict.model_auc" not in body  # per-metric statuses: out of view
    context.close()
