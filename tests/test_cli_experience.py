"""What a person at a terminal meets first: help in workflow order with examples, MLflow's log
lines kept out of our output, where to look after a run, a hint for a plain-path tracking URI,
the status in `show`, colour and wrapping only at a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alignment_mlflow.cli import cli
from alignment_mlflow.commands._common import colour_status, new_sqlite_store, wrap_line
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

# MLflow's own first run into a new store (its migrations and their log lines), not the tests'
# migrated template (tests/_subprocess/mlflow_template.py).
REAL_MIGRATIONS = {"ALIGNMENT_TESTS_SQLITE_TEMPLATE": ""}
WORKFLOW = ["init", "validate", "check", "run", "gate", "serve", "plan", "outcomes", "show"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """The command's stdout as a terminal shows it: the process writes to a pseudo-terminal."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "alignment_mlflow", *args],
        stdout=child,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TERM": "xterm-256color", **env},
    )
    os.close(child)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_help_lists_the_commands_in_workflow_order_with_full_summaries() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    listed = re.findall(r"^  (\w+)\s{2,}(.+)$", result.output.split("Commands:")[1], re.M)
    assert [name for name, _ in listed] == WORKFLOW
    for name, summary in listed:
        assert not summary.endswith("..."), (name, summary)
        assert summary.endswith((".", ")")), (name, summary)
    for name in WORKFLOW:  # the group's epilog shows the whole workflow
        assert f"alignment-mlflow {name} " in result.output


@pytest.mark.parametrize("name", WORKFLOW)
def test_each_command_help_ends_with_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    epilog = result.output.split("Example", 1)
    assert len(epilog) == 2, result.output
    assert f"alignment-mlflow {name} " in epilog[1]


def test_usage_errors_are_spelled_like_our_errors(tmp_path: Path) -> None:
    result = _cli("check", "--bogus", cwd=tmp_path)
    assert result.returncode == 2
    assert "\nerror: No such option: --bogus" in result.stderr or (
        "\nerror: No such option '--bogus'" in result.stderr
    ), result.stderr
    assert "Error:" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", str(FINDINGS_FIXTURES), "--spec", str(TEMPLATE_SPEC)],
        ["gate", "--spec", str(TEMPLATE_SPEC), "--model-run", "0" * 32],
        ["plan", "--scores", "x.parquet", "--spec", str(TEMPLATE_SPEC)],
    ],
    ids=["run", "gate", "plan"],
)
def test_a_plain_path_as_tracking_uri_gets_a_hint_and_exit_2(
    args: list[str], tmp_path: Path
) -> None:
    result = _cli(*args, "--tracking-uri", "./some/dir", "--json", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "plain path" in result.stderr
    assert f"sqlite:///{tmp_path.resolve()}/some/dir/mlflow.db" in result.stderr
    assert "unexpected" not in result.stderr
    assert not (tmp_path / "some").exists()
    assert not (tmp_path / "mlruns").exists()


def test_first_run_into_a_new_store_says_so_and_mlflow_logs_stay_quiet(tmp_path: Path) -> None:
    findings = tmp_path / "findings"
    findings.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml", findings)
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    args = ["run", str(findings), "--spec", str(TEMPLATE_SPEC), "--tracking-uri", store]
    first = _cli(*args, cwd=tmp_path, env=REAL_MIGRATIONS)
    assert first.returncode == 0, first.stderr
    note = [line for line in first.stdout.splitlines() if "creating MLflow's tables" in line]
    assert len(note) == 1, first.stdout
    assert "first run into a store only" in note[0]
    both = first.stdout + first.stderr
    for noise in ("INFO mlflow", "Creating initial MLflow database tables", "alembic", "INFO  ["):
        assert noise not in both, both
    # Where to look: the command that opens this store in the UI, and the page.
    assert f"ui:       mlflow ui --backend-store-uri {store}" in first.stdout
    assert re.search(r"then open http://127\.0\.0\.1:5000/#/experiments/\d+", first.stdout)

    again = _cli(*args, "--new-run", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "creating MLflow's tables" not in again.stdout + again.stderr


def test_verbose_lets_mlflow_log_lines_through(tmp_path: Path) -> None:
    findings = tmp_path / "findings"
    findings.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml", findings)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = _cli(
        "run", str(findings), "--spec", str(TEMPLATE_SPEC), "--tracking-uri", store, "--verbose",
        cwd=tmp_path, env=REAL_MIGRATIONS,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Creating initial MLflow database tables" in result.stderr
    assert "Creating initial MLflow database tables" not in result.stdout


@pytest.mark.parametrize("command", ["run", "gate", "plan"])
def test_input_refused_before_mlflow_never_imports_it(command: str, tmp_path: Path) -> None:
    """MLflow's import costs seconds; a spec refused before any MLflow call does not pay it."""
    findings = tmp_path / "findings"
    findings.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml", findings)
    bad = tmp_path / "bad.yaml"
    bad.write_text("business_context: [\n")
    given = {
        "run": [str(findings)],
        "gate": ["--model-version", "models:/m/1"],
        "plan": ["--scores", str(tmp_path / "scores.parquet")],
    }[command]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "alignment_mlflow", command, *given,
         "--spec", str(bad)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "bad.yaml" in result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "mlflow" not in imported


def test_new_sqlite_store_is_only_a_missing_or_empty_database(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    assert new_sqlite_store(f"sqlite:///{db}") == str(db)
    db.write_bytes(b"")
    assert new_sqlite_store(f"sqlite:///{db}") == str(db)
    db.write_bytes(b"SQLite format 3\x00")
    assert new_sqlite_store(f"sqlite:///{db}") is None
    assert new_sqlite_store("http://127.0.0.1:5000") is None
    assert new_sqlite_store("databricks") is None


def test_show_leads_with_the_overall_status(tmp_path: Path) -> None:
    findings = tmp_path / "subscription_aligned_408768_findings.yaml"
    data = yaml.safe_load((FINDINGS_FIXTURES / findings.name).read_text())
    data["metadata"]["alignment"] = {
        "spec_sha256": "0" * 64,
        "data_constraints": [
            {"constraint": "PII Handling", "status": "passed", "reason": "no PII column"},
            {"constraint": "Data Freshness", "status": "unverifiable", "reason": "old extract"},
        ],
    }
    findings.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["show", str(findings)])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "status:   NEEDS_REVIEW", result.output
    assert "  check   UNVERIFIABLE  Data Freshness: old extract" in result.output
    data["metadata"]["alignment"]["data_constraints"][0]["status"] = "failed"
    findings.write_text(yaml.safe_dump(data))
    again = CliRunner().invoke(cli, ["show", str(findings)])
    assert again.output.splitlines()[0] == "status:   BLOCKED", again.output


CHECK = ["check", str(FINDINGS_FIXTURES / "telco_pii_churn_408768_findings.yaml"),
         "--spec", str(TEMPLATE_SPEC)]  # fmt: skip


def test_status_is_coloured_at_a_terminal() -> None:
    out = _on_a_terminal(CHECK, {"COLUMNS": "200"})
    assert "status:   \x1b[31m\x1b[1mBLOCKED\x1b[0m" in out, out
    assert "\x1b[32mPASSED\x1b[0m" in out, out


def test_no_colour_with_no_color_set_or_into_a_pipe(tmp_path: Path) -> None:
    out = _on_a_terminal(CHECK, {"COLUMNS": "200", "NO_COLOR": "1"})
    assert "status:   BLOCKED" in out
    assert "\x1b[" not in out
    piped = _cli(*CHECK, cwd=tmp_path, env={"TERM": "xterm-256color"})
    assert "status:   BLOCKED" in piped.stdout
    assert "\x1b[" not in piped.stdout


def test_lines_wrap_at_the_terminal_width(tmp_path: Path) -> None:
    out = _on_a_terminal(CHECK, {"COLUMNS": "60", "NO_COLOR": "1"})
    lines = out.splitlines()
    assert any(line.startswith("  FAILED") for line in lines), out
    # Every line fits, but one holding a word longer than the width (a path cannot be broken).
    breakable = [line for line in lines if max(map(len, line.split()), default=0) < 40]
    assert max(len(line) for line in breakable) <= 60, out
    assert len(breakable) >= len(lines) - 1, out  # only the findings path is too long
    piped = _cli(*CHECK, cwd=tmp_path, env={"COLUMNS": "60"})
    assert max(len(line) for line in piped.stdout.splitlines()) > 60  # a pipe is not wrapped


def test_wrap_continues_under_the_text_and_colour_picks_the_status_word() -> None:
    line = "  FAILED        PII Handling: " + "word " * 30
    wrapped = wrap_line(line, 50)
    assert all(len(part) <= 50 for part in wrapped)
    assert all(part.startswith(" " * 10) for part in wrapped[1:])
    assert ANSI.sub("", colour_status("status:   NEEDS_REVIEW")) == "status:   NEEDS_REVIEW"
    assert "\x1b[33m" in colour_status("status:   NEEDS_REVIEW")
    assert "\x1b[31m" in colour_status("  unmet        model_auc")
    assert colour_status("findings: /data/x_findings.yaml") == "findings: /data/x_findings.yaml"


def test_a_relative_sqlite_uri_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignment_mlflow.tracking.uris import resolve_tracking_uri

    here = tmp_path.resolve()
    assert resolve_tracking_uri("sqlite:///demo-output/mlflow.db") == (
        f"sqlite:///{here}/demo-output/mlflow.db"
    )
    assert resolve_tracking_uri(f"sqlite:///{here}/x.db") == f"sqlite:///{here}/x.db"
    assert resolve_tracking_uri("sqlite:///:memory:") == "sqlite:///:memory:"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///store/mlflow.db?timeout=5")
    assert resolve_tracking_uri(None) == f"sqlite:///{here}/store/mlflow.db?timeout=5"
