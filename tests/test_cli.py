"""The CLI's small commands and its error contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignment_mlflow.cli import _wheel_task_args, cli
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

HEAVY = ("mlflow", "pandas", "pyarrow", "deltalake", "pyspark", "databricks.sdk")


def test_validate_prints_the_parsed_spec() -> None:
    result = CliRunner().invoke(cli, ["validate", str(TEMPLATE_SPEC)])
    assert result.exit_code == 0
    assert "precision_at_20pct" in result.output
    assert "1. High       (0.8, 1]" in result.output


def test_validate_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        TEMPLATE_SPEC.read_text()
        .replace("$10/customer", "-$10/customer")
        .replace("priority: Medium", "priority: Urgent", 1)
    )
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "2 problems" in result.output
    assert f"{bad}:" in result.output
    assert "interventions[1].cost" in result.output
    assert "success_metrics[3].priority" in result.output


def test_init_writes_the_template_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "alignment.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--out", str(out)]).exit_code == 0
    assert out.read_text() == TEMPLATE_SPEC.read_text()
    out.write_text("mine")
    refused = runner.invoke(cli, ["init", "--out", str(out)])
    assert refused.exit_code == 2
    assert "--force" in refused.output
    assert out.read_text() == "mine"
    assert runner.invoke(cli, ["init", "--out", str(out), "--force"]).exit_code == 0
    assert out.read_text() == TEMPLATE_SPEC.read_text()


def test_show_with_and_without_an_alignment(tmp_path: Path) -> None:
    runner = CliRunner()
    clean = tmp_path / "subscription_clean_408768_findings.yaml"
    shutil.copy2(FINDINGS_FIXTURES / clean.name, clean)
    none = runner.invoke(cli, ["show", str(clean)])
    assert none.exit_code == 0
    assert "no alignment stored" in none.output
    aligned = FINDINGS_FIXTURES / "subscription_aligned_408768_findings.yaml"
    shown = runner.invoke(cli, ["show", str(aligned)])
    assert shown.exit_code == 0
    assert "metric  Model AUC: >= 0.80 [High]" in shown.output
    as_json = json.loads(runner.invoke(cli, ["show", str(aligned), "--json"]).output)
    assert as_json["business_context"]["timeline"] == "Q1 2025"


def test_errors_are_one_message_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", "show", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: findings not found")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["validate", str(TEMPLATE_SPEC)]])
def test_help_and_validate_do_not_import_heavy_modules(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from alignment_mlflow.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_wheel_task_arguments() -> None:
    assert _wheel_task_args(["--findings=/x", "--spec=/y"]) == ["run", "--findings=/x", "--spec=/y"]
    assert _wheel_task_args(["run", "--findings", "/x"]) == ["run", "--findings", "/x"]
    assert _wheel_task_args(["--help"]) == ["--help"]
    assert _wheel_task_args([]) == []


def test_the_entry_point_called_in_process_returns_and_never_ends_the_host() -> None:
    """A Databricks python_wheel_task calls the entry point inside its own interpreter: success
    returns normally, and the host process is never ended with os._exit."""
    code = (
        "from alignment_mlflow.cli import main\n"
        "main(['--version'])\n"
        "print('host still alive, returned normally')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "host still alive, returned normally" in out.stdout


def test_the_cli_process_flushes_everything_before_its_hard_exit(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", "validate", str(TEMPLATE_SPEC)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().splitlines()[-1].strip()  # the whole summary arrived
    bad = tmp_path / "bad.yaml"
    bad.write_text("[")
    out = subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", "validate", str(bad)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "bad.yaml" in out.stderr


HOSTILE = '"Churn \\e[2J\\e]0;pwned\\a \\0 \\u202egnp.exe"'  # YAML escapes: ESC, BEL, NUL, RLO
RAW = ("\x1b", "\x07", "\x00", "\u202e")


def _hostile_spec(tmp_path: Path) -> Path:
    text = TEMPLATE_SPEC.read_text().replace(
        "project_name: Customer Churn Prediction", f"project_name: {HOSTILE}"
    )
    text = text.replace("- constraint: PII Handling", f"- constraint: {HOSTILE}")
    spec = tmp_path / "hostile.yaml"
    spec.write_text(text)
    return spec


def _assert_escaped(output: str) -> None:
    for ch in RAW:
        assert ch not in output, repr(ch)
    assert "\\x1b[2J" in output


def test_validate_run_and_check_print_control_characters_escaped(tmp_path: Path) -> None:
    spec = _hostile_spec(tmp_path)
    findings = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"
    runner = CliRunner()
    for args in (
        ["validate", str(spec)],
        ["check", str(findings), "--spec", str(spec)],
        ["run", "--findings", str(findings), "--spec", str(spec), "--dry-run"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        _assert_escaped(result.output)


def test_error_messages_escape_control_characters(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        TEMPLATE_SPEC.read_text().replace("cost: $50/customer", 'cost: "\\e[2J free"', 1)
    )
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2
    _assert_escaped(result.output)


def test_show_escapes_values_from_the_findings(tmp_path: Path) -> None:
    src = FINDINGS_FIXTURES / "subscription_aligned_408768_findings.yaml"
    text = src.read_text()
    assert "project_name: Customer Churn Prediction" in text
    path = tmp_path / "x_findings.yaml"
    path.write_text(
        text.replace("project_name: Customer Churn Prediction", f"project_name: {HOSTILE}")
    )
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 0, result.output
    _assert_escaped(result.output)
