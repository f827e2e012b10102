"""Issue 22's chain, walked in the real MLflow UI (headless Debian Chromium, a real `mlflow
server`) as an engineer would: the runs list with the status column; alignment run -> its plan
run (by the link in the description) -> back; alignment run -> its gated model version -> back.

Screenshots go to a tmp dir and, when ``ALIGNMENT_UI_SHOTS`` names a folder, are copied there
(``ui-shots/`` in the worktree is git-ignored for that).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from _browser import add_tag_column, close_assistant, goto
from _gate_model import train_and_register
from alignment_mlflow import align, gate, plan
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC
from test_plan import scores_table

pytestmark = [pytest.mark.browser, pytest.mark.mlflow_server]

VIEWPORT = {"width": 1600, "height": 1000}
EXPERIMENT = "/Shared/alignment/ui-chain"
FINDINGS = "subscription_clean_408768_findings.yaml"
STATUS_COL = "tags.`alignment.status`"


@dataclass(frozen=True)
class Chain:
    uri: str
    experiment_id: str
    alignment_run: str
    plan_run: str
    model: str
    version: str


@pytest.fixture(scope="module")
def chained(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    root = tmp_path_factory.mktemp("ui-chain")
    shutil.copy2(FINDINGS_FIXTURES / FINDINGS, root / FINDINGS)
    aligned = align(
        root / FINDINGS,
        TEMPLATE_SPEC,
        tracking_uri=mlflow_server,
        experiment=EXPERIMENT,
        tiers_table=str(root / "tiers"),
    )
    pq.write_table(scores_table(800), root / "scores.parquet")
    planned = plan(
        str(root / "scores.parquet"),
        str(root / FINDINGS),
        tracking_uri=mlflow_server,
        experiment=EXPERIMENT,
    )
    model = train_and_register(mlflow_server, name="ui_chain_model", latency_s=0.02)
    gate(root / FINDINGS, model_version=model.uri, tracking_uri=mlflow_server)
    assert planned.experiment_id == aligned.experiment_id
    return Chain(
        mlflow_server,
        str(aligned.experiment_id),
        str(aligned.run_id),
        str(planned.run_id),
        model.name,
        model.version,
    )


def description(page: Any) -> Any:
    """The run's rendered description, expanded."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    content = page.get_by_test_id("note-editor-preview-content").first
    content.wait_for()
    more = page.get_by_text("Show more", exact=True)
    with contextlib.suppress(PlaywrightTimeout):
        more.first.click(timeout=3_000)
    return content


def in_model_training_mode(page: Any) -> None:
    """MLflow 3's UI opens a link without ``workflowType`` in its GenAI mode (a fresh browser's
    default), where a run is listed under "Evaluation runs": our links must open the runs view."""
    from playwright.sync_api import expect

    assert "workflowType=machine_learning" in page.url, page.url
    expect(page.get_by_text("Evaluation runs", exact=True)).to_have_count(0)


def follow(page: Any, link: Any) -> Any:
    """Click a link as a reader would; the UI may open it in a new tab (target=_blank)."""
    if link.get_attribute("target") == "_blank":
        with page.context.expect_page() as opened:
            link.click()
        new = opened.value
        new.wait_for_load_state("domcontentloaded")
        return new
    link.click()
    return page


def test_runs_list_shows_the_status_column(page: Any, chained: Chain, shots: Path) -> None:
    from playwright.sync_api import expect

    goto(page, chained, f"experiments/{chained.experiment_id}/runs")
    close_assistant(page)
    add_tag_column(page, "alignment.status")
    cell = page.locator(f'[role=row][row-id="{chained.alignment_run}"] [col-id="{STATUS_COL}"]')
    expect(cell).to_have_text("needs_review")
    close_assistant(page)
    cell.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "chain-1-runs-list.png"))


def test_alignment_run_to_its_plan_run_and_back(page: Any, chained: Chain, shots: Path) -> None:
    from playwright.sync_api import expect

    goto(page, chained, f"experiments/{chained.experiment_id}/runs/{chained.alignment_run}")
    close_assistant(page)
    notes = description(page)
    expect(notes).to_contain_text("Plans and gated models")
    link = notes.locator(f'a[href*="/runs/{chained.plan_run}"]').first
    expect(link).to_contain_text("plan ")
    close_assistant(page)
    link.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "chain-2-alignment-run-links.png"))

    there = follow(page, link)
    there.wait_for_url(f"**/runs/{chained.plan_run}**")
    plan_notes = description(there)
    in_model_training_mode(there)
    expect(plan_notes).to_contain_text("PLAN")
    expect(plan_notes).to_contain_text("within budget")
    close_assistant(there)
    there.screenshot(path=str(shots / "chain-3-plan-run.png"))

    back = plan_notes.locator(f'a[href*="/runs/{chained.alignment_run}"]').first
    home = follow(there, back)
    home.wait_for_url(f"**/runs/{chained.alignment_run}**")
    expect(description(home)).to_contain_text("NEEDS REVIEW")
    in_model_training_mode(home)


def test_alignment_run_to_its_gated_version_and_back(
    page: Any, chained: Chain, shots: Path
) -> None:
    from playwright.sync_api import expect

    goto(page, chained, f"experiments/{chained.experiment_id}/runs/{chained.alignment_run}")
    close_assistant(page)
    notes = description(page)
    route = f"models/{chained.model}/versions/{chained.version}"
    link = notes.locator(f'a[href*="{route}"]').first
    expect(link).to_contain_text(f"models:/{chained.model}/{chained.version}")

    there = follow(page, link)
    there.wait_for_url(f"**/{route}**")
    back = there.locator(f'a[href*="/runs/{chained.alignment_run}"]').first
    back.wait_for()
    expect(there.get_by_text("Gate verdict").first).to_be_visible()
    close_assistant(there)
    there.screenshot(path=str(shots / "chain-4-model-version.png"), full_page=True)

    home = follow(there, back)
    home.wait_for_url(f"**/runs/{chained.alignment_run}**")
    expect(description(home)).to_contain_text("NEEDS REVIEW")
    in_model_training_mode(home)
