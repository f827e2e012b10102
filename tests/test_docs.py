"""Every sample output in the docs is what the command prints today.

Each ```console block in docs/ is run, in the order a reader meets the pages (the Quickstart's
`make demo` first: the other pages continue the tour in its store), from a folder laid out like
the repository (``examples/``), and its output compared with the block's. Normalised on both
sides: the folder's path (so ``demo-output/...`` reads as in the repository), run ids
(``<run_id>``), step times (``0.00s``) and trailing spaces. In a block, a line ``...`` stands
for any number of lines and ``...`` inside a line for any text; ``[exit N]`` is the exit code
(0 when absent).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

DOCS = REPO / "docs"
FIRST = ["quickstart.md"]  # the tour's store is made here


@dataclass(frozen=True)
class Sample:
    page: str
    line: int
    command: str
    expected: list[str]


def pages() -> list[Path]:
    rest = sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).as_posix() not in FIRST)
    return [DOCS / name for name in FIRST] + rest


def samples(page: Path) -> list[Sample]:
    """The commands of the page's console blocks with the output shown under each."""
    found: list[Sample] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        i += 1
        current: Sample | None = None
        while lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                command, start = lines[i][2:], i + 1
                while command.endswith("\\"):
                    i += 1
                    command = command[:-1] + lines[i].strip()
                current = Sample(page.relative_to(DOCS).as_posix(), start, command, [])
                found.append(current)
            elif current is not None:
                current.expected.append(lines[i])
            i += 1
        i += 1
    return found


def argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words == ["make", "demo"]:  # the Makefile's demo target, in this venv
        return [sys.executable, "examples/demo.py", "--out", "demo-output"]
    if words[0] == "alignment-mlflow":
        return [sys.executable, "-m", "alignment_mlflow", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    raise AssertionError(f"docs show a command this test cannot run: {command}")


def normalise(text: str, folder: Path) -> list[str]:
    for path in sorted({str(folder.resolve()), str(folder), str(REPO)}, key=len, reverse=True):
        text = text.replace(path + "/", "")
    text = re.sub(r"\b[0-9a-f]{32}\b", "<run_id>", text)
    # A step's time, keeping its column: " 15.30s" and "  0.44s" both read "  0.00s".
    text = re.sub(r" *\b\d+\.\d\ds\b", lambda m: "0.00s".rjust(len(m.group())), text)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(expected: list[str], actual: list[str]) -> bool:
    patterns = [
        None if line == "..." else re.compile(".*".join(map(re.escape, line.split("..."))))
        for line in expected
    ]

    @functools.cache
    def at(e: int, a: int) -> bool:
        if e == len(patterns):
            return a == len(actual)
        pattern = patterns[e]
        if pattern is None:
            return any(at(e + 1, k) for k in range(a, len(actual) + 1))
        return a < len(actual) and pattern.fullmatch(actual[a]) is not None and at(e + 1, a + 1)

    return at(0, 0)


def run(sample: Sample, folder: Path) -> list[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for var in ("NO_COLOR", "COLUMNS", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    done = subprocess.run(
        argv(sample.command),
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
        check=False,
    )
    lines = normalise(done.stdout, folder)
    return [*lines, f"[exit {done.returncode}]"] if done.returncode else lines


def test_the_docs_show_console_samples_in_the_tour_and_the_command_pages() -> None:
    by_page = {s.page for p in pages() for s in samples(p)}
    assert {"quickstart.md", "commands/run.md", "commands/gate.md", "commands/plan.md"} <= by_page
    assert samples(DOCS / "quickstart.md")[0].command == "make demo"


def test_matches_reads_ellipses_as_any_lines_and_any_text() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "b"], ["a", "b"])
    assert matches(["x ... z"], ["x yy z"])
    assert not matches(["a", "d"], ["a", "b", "d"])
    assert not matches(["x ... z"], ["x yy"])


@dataclass(frozen=True)
class Tour:
    folder: Path
    failures: list[str]


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Tour:
    """Every console sample run in page order, in one folder laid out like the repository."""
    folder = tmp_path_factory.mktemp("tour") / "repo"
    folder.mkdir()
    (folder / "examples").symlink_to(REPO / "examples")
    failures = []
    for page in pages():
        for sample in samples(page):
            actual = run(sample, folder)
            if not matches([line.rstrip() for line in sample.expected], actual):
                failures.append(
                    f"docs/{sample.page}:{sample.line}: $ {sample.command}\n"
                    + "--- shown\n"
                    + "\n".join(sample.expected)
                    + "\n--- printed\n"
                    + "\n".join(actual)
                )
    return Tour(folder, failures)


@pytest.mark.slow
def test_every_console_sample_in_the_docs_prints_what_it_shows(tour: Tour) -> None:
    assert not tour.failures, "\n\n".join(tour.failures)
    # The documented tour writes into demo-output/ only: no store in the folder it runs from.
    for name in ("mlflow.db", "mlruns", "mlartifacts"):
        assert not (tour.folder / name).exists(), name


@pytest.mark.slow
@pytest.mark.browser
def test_the_tour_appears_in_the_ui_the_demo_opens(browser: Any, tour: Tour) -> None:
    """The UI the demo tells you to open (its store, as `mlflow ui` serves it) shows the
    alignment run and the plan run in the alignment's experiment, and the gated model's run
    with its verdict, all from the one store."""
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    from _mlflow_server import ServerProcess

    store = tour.folder / "demo-output"
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    alignment = client.get_experiment_by_name("/Shared/alignment/customer_churn_prediction")
    training = client.get_experiment_by_name("/Shared/churn/training")
    assert alignment is not None
    assert training is not None
    runs = client.search_runs([alignment.experiment_id])
    names = sorted(r.info.run_name for r in runs)
    assert len(names) == 2  # the alignment run and the plan run
    (aligned,) = [r for r in runs if "alignment.status" in r.data.tags]
    (model_run,) = client.search_runs([training.experiment_id])
    assert model_run.data.tags["alignment.verdict"] == "passed"

    server = ServerProcess(store).start()  # what `mlflow ui --backend-store-uri ...` serves
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(
            "window.localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false')"
        )
        page = context.new_page()
        # The UI opens experiments in its GenAI mode unless asked for "Model training".
        mode = "?workflowType=machine_learning"
        page.goto(
            f"{server.uri}/#/experiments/{alignment.experiment_id}/runs{mode}",
            wait_until="domcontentloaded",
            timeout=60_000,
        )
        cells = page.locator('[role=gridcell][col-id="attributes.`Run Name`"] a')
        expect(cells).to_have_count(2, timeout=60_000)
        assert sorted(t.strip() for t in cells.all_inner_texts()) == names
        page.goto(
            f"{server.uri}/#/experiments/{training.experiment_id}/runs/{model_run.info.run_id}"
            + mode,
            wait_until="domcontentloaded",
            timeout=60_000,
        )
        page.get_by_text("alignment.why").first.wait_for(timeout=60_000)
        body = page.locator("body").inner_text()
        assert "alignment.verdict" in body
        assert "passed" in body
        shots = os.environ.get("ALIGNMENT_SCREENSHOTS")
        if shots:  # to refresh docs/img/: ALIGNMENT_SCREENSHOTS=docs/img pytest -m browser ...
            page.screenshot(path=str(Path(shots) / "tour-gated-model-run.png"))
        page.goto(
            f"{server.uri}/#/experiments/{alignment.experiment_id}/runs/{aligned.info.run_id}"
            + mode,
            wait_until="domcontentloaded",
            timeout=60_000,
        )
        verdict = page.get_by_test_id("note-editor-preview-content").first.locator("p").first
        expect(verdict).to_contain_text("blocked", ignore_case=True, timeout=60_000)
        if shots:
            page.screenshot(path=str(Path(shots) / "tour-alignment-run-verdict.png"))
        context.close()
    finally:
        server.stop()
