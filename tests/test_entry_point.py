"""The console-script entry point called in-process, the way Databricks runs a wheel task: it looks
the entry point up in the installed metadata, loads it and calls it with ``--key=value`` arguments
in ``sys.argv``. Success must return normally (a SystemExit, even 0, can fail the task)."""

from __future__ import annotations

import shutil
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CLEAN = "subscription_clean_408768_findings.yaml"


def wheel_task(monkeypatch: pytest.MonkeyPatch, params: dict[str, str]) -> Any:
    (ep,) = entry_points(group="console_scripts", name="alignment-mlflow")
    monkeypatch.setattr(
        sys, "argv", ["alignment-mlflow", *(f"--{k}={v}" for k, v in params.items())]
    )
    return ep.load()()


@pytest.fixture
def params(tmp_path: Path) -> dict[str, str]:
    shutil.copy2(FINDINGS_FIXTURES / CLEAN, tmp_path / CLEAN)
    return {
        "findings": str(tmp_path / CLEAN),
        "spec": str(TEMPLATE_SPEC),
        "tracking-uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "tiers-table": str(tmp_path / "tiers"),
    }


def test_success_returns_normally(monkeypatch: pytest.MonkeyPatch, params: dict[str, str]) -> None:
    assert wheel_task(monkeypatch, params) is None
    assert "alignment:" in Path(params["findings"]).read_text()


def test_invalid_spec_ends_with_exit_2_and_one_message(
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("business_context: {}\n")
    with pytest.raises(SystemExit) as exc:
        wheel_task(monkeypatch, {**params, "spec": str(bad)})
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid alignment spec")
    assert "Traceback" not in err


def test_system_failure_ends_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, params: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    log = Path(params["tiers-table"]) / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("{corrupt")
    with pytest.raises(SystemExit) as exc:
        wheel_task(monkeypatch, params)
    assert exc.value.code == 1
    assert "error: reading tiers table" in capsys.readouterr().err


def test_usage_errors_keep_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exc:
        wheel_task(monkeypatch, {"no-such-option": "x"})
    assert exc.value.code == 2


def test_help_returns_normally(capsys: pytest.CaptureFixture[str]) -> None:
    from alignment_mlflow.cli import main

    assert main(["--help"]) is None
    assert "Usage:" in capsys.readouterr().out
