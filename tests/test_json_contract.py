"""Issue 23: ``--json`` prints exactly one JSON object on stdout on every path, for every command.

Usage errors are raised by click before a command's body runs; they are tested in process
(CliRunner). Signals and a closed stdout need a process of their own: see test_faults.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignment_mlflow.cli import cli
from alignment_mlflow.commands import COMMANDS
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CLEAN = str(FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml")
SPEC = str(TEMPLATE_SPEC)
ERROR_KEYS = ["error", "error_type", "exit_code"]

#: Per command: arguments that are complete but for the usage error added below.
COMPLETE = {
    "init": [],
    "validate": [SPEC],
    "check": [CLEAN, "--spec", SPEC],
    "run": [CLEAN, "--spec", SPEC, "--dry-run"],
    "gate": ["--spec", SPEC, "--model-run", "r", "--dry-run"],
    "plan": ["--scores", "s.parquet", "--spec", SPEC, "--dry-run"],
    "serve": ["--spec", SPEC, "--model-version", "models:/m/1", "--dry-run"],
    "outcomes": ["--assignments", "a", "--outcomes", "o", "--spec", SPEC],
    "show": [CLEAN],
}
#: Usage errors, each appended to a command's complete arguments (or replacing them).
USAGE_ERRORS = {
    "unknown option": lambda name: [name, *COMPLETE[name], "--no-such-option"],
    "unexpected argument": lambda name: [name, *COMPLETE[name], "a", "b", "c"],
    "option without its value": lambda name: [name, *COMPLETE[name], "--spec"],
}
MISSING = {  # a required option or argument left out
    "validate": ["validate"],
    "check": ["check", CLEAN],
    "run": ["run", "--spec", SPEC],
    "gate": ["gate", "--model-run", "r"],
    "plan": ["plan", "--spec", SPEC],
    "serve": ["serve", "--spec", SPEC],
    "outcomes": ["outcomes", "--spec", SPEC, "--assignments", "a"],
    "show": ["show"],
}
BAD_VALUE = {  # a value of the wrong type: a date, a path that must not be a folder
    "check": ["check", CLEAN, "--spec", SPEC, "--freshness-reference", "31/12/2023"],
    "run": ["run", CLEAN, "--spec", SPEC, "--freshness-reference", "yesterday"],
    "init": ["init", "--out", "."],
}


def test_every_command_is_covered() -> None:
    assert sorted(c.name or "" for c in COMMANDS) == sorted(COMPLETE)


def _one_error_object(args: list[str], code: int = 2) -> dict[str, object]:
    result = CliRunner().invoke(cli, [*args, "--json"] if "--json" not in args else args)
    assert result.exit_code == code, (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    obj = json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout
    assert isinstance(obj, dict)
    assert list(obj) == ERROR_KEYS, obj
    assert obj["exit_code"] == code
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return obj


@pytest.mark.parametrize("kind", sorted(USAGE_ERRORS))
@pytest.mark.parametrize("name", sorted(COMPLETE))
def test_usage_errors_print_one_json_object(name: str, kind: str) -> None:
    args = USAGE_ERRORS[kind](name)
    if kind == "option without its value" and name in ("init", "validate", "show"):
        args = [name, *COMPLETE[name], "--no-such-option"]
    obj = _one_error_object([*args[:1], "--json", *args[1:]])
    assert obj["error_type"] == "UsageError"


@pytest.mark.parametrize("name", sorted(MISSING))
def test_a_missing_required_value_prints_one_json_object(name: str) -> None:
    obj = _one_error_object(MISSING[name])
    assert "issing" in str(obj["error"])


@pytest.mark.parametrize("name", sorted(BAD_VALUE))
def test_a_bad_value_prints_one_json_object(name: str) -> None:
    _one_error_object(BAD_VALUE[name])


def test_json_before_the_command_and_without_one() -> None:
    _one_error_object(["--json"])
    _one_error_object(["--json", "no-such-command"])


def test_usage_errors_without_json_print_nothing_on_stdout() -> None:
    result = CliRunner().invoke(cli, ["check", CLEAN, "--no-such-option"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error: No such option" in result.stderr


def test_a_failure_after_the_json_object_adds_no_second_object(tmp_path: Path) -> None:
    """``check --json --strict`` prints the verdicts, then fails on them: one object, exit 3."""
    result = CliRunner().invoke(
        cli,
        ["check", CLEAN, "--spec", SPEC, "--strict", "--json",
         "--freshness-reference", "2030-01-01"],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    obj = json.loads(result.stdout)
    assert "constraints" in obj
    assert "error: --strict" in result.stderr


def test_init_and_validate_print_one_object_with_json(tmp_path: Path) -> None:
    out = tmp_path / "a.yaml"
    result = CliRunner().invoke(cli, ["init", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"spec_path": str(out)}
    result = CliRunner().invoke(cli, ["validate", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)) == [
        "spec_path",
        "project_slug",
        "spec_sha256",
        "warnings",
    ]
