"""Debian's headless Chromium driven by Playwright, for the tests that look at the MLflow UI.

Never a downloaded browser build: `.ci/run` installs Debian's `chromium`; without it these tests
skip and say how to install it. The flags keep Chromium off the network (this machine has none).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT = 60_000  # ms: the first page load compiles nothing but fetches a large bundle


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed: apt-get install chromium (.ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class _Served(Protocol):
    uri: str  # the MLflow server the UI is served from


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Screenshots go to a tmp dir and, when ``ALIGNMENT_UI_SHOTS`` names a folder, are copied
    there, for a reader to look at what the test saw."""
    folder = tmp_path_factory.mktemp("ui-shots")
    yield folder
    target = os.environ.get("ALIGNMENT_UI_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for png in folder.glob("*.png"):
            shutil.copy2(png, Path(target) / png.name)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page at the test module's ``VIEWPORT`` (its screenshots and on-screen checks
    depend on it)."""
    context = browser.new_context(viewport=request.module.VIEWPORT)
    context.set_default_timeout(WAIT)
    # The UI's own preference; MLflow 3.17 still opens its assistant panel on localhost, and
    # there it covers the compare page's artifact list, so close_assistant() clicks it away too.
    context.add_init_script("window.localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false')")
    yield context.new_page()
    context.close()


def goto(page: Any, served: _Served, route: str) -> None:
    """Open a route of the UI in its "Model training" mode (it may otherwise open in GenAI mode)."""
    page.goto(
        f"{served.uri}/#/{route}?workflowType=machine_learning", wait_until="domcontentloaded"
    )


def close_assistant(page: Any) -> None:
    """Close the assistant panel if it opened (it does on localhost, whatever the preference)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    close = page.locator("aside").get_by_role("button", name="Close")
    try:
        close.first.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return
    close.first.click()
    close.first.wait_for(state="hidden")


def add_tag_column(page: Any, tag: str) -> None:
    """Add a run tag as a column of the runs list through the Columns menu (its search finds
    tags by key), as an engineer would."""
    page.get_by_role("button", name="Columns", exact=True).click()
    page.get_by_placeholder("Search columns").fill(tag)
    page.locator(f'[data-testid=column-selector-tree] [title="{tag}"]').click()
    page.keyboard.press("Escape")
