"""Issue 23: no value we print can add a line or a terminal escape to human output.

Property: for every command, a value holding control characters (a path, a project or tier name,
a group label, an option typed wrong, a value quoted in an error) produces exactly as many output
lines as the same value with those characters replaced by a letter, and no control character
but the line ends we write ourselves reaches stdout or stderr.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment_mlflow.cli import cli
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CLEAN = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"
ALIGNED = FINDINGS_FIXTURES / "subscription_aligned_408768_findings.yaml"
#: What a terminal or a line splitter acts on: C0 (line breaks, ESC, ...), DEL, C1, separators.
CONTROLS = [chr(c) for c in [*range(1, 0x20), 0x7F, 0x85, 0x9B, 0x2028, 0x2029]]
UNSAFE_OUT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# A value: some text, then control characters and a forged line ("status: ALIGNED").
values = st.builds(
    lambda a, ctl, b: f"{a}{ctl}status: ALIGNED{ctl[::-1]}{b}",
    st.text("abc XYZ_-.", max_size=6),
    st.text(st.sampled_from(CONTROLS), min_size=1, max_size=6),
    st.text("abc", max_size=4),
)


def tamed(value: str) -> str:
    """The same value with every control character replaced by a letter."""
    return "".join("x" if ch in CONTROLS else ch for ch in value)


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _spec(folder: Path, value: str) -> Path:
    text = TEMPLATE_SPEC.read_text()
    text = text.replace(
        "project_name: Customer Churn Prediction", f"project_name: {_yaml_str(value)}"
    )
    text = text.replace("- constraint: PII Handling", f"- constraint: {_yaml_str(value)}")
    path = folder / "spec.yaml"
    path.write_text(text)
    return path


def _findings(folder: Path, value: str, src: Path = CLEAN) -> Path:
    where = folder / value.replace("/", "_")
    where.mkdir()
    shutil.copy2(src, where / src.name)
    return where / src.name


def _scores(folder: Path, value: str) -> Path:
    n = 300
    rng = np.random.default_rng(1)
    path = folder / f"{value.replace('/', '_')}.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": np.arange(n, dtype=np.int64),
                "churn_score": rng.beta(2, 5, n),
                "segment": [value if i % 2 else "plain" for i in range(n)],
            }
        ),
        path,
    )
    return path


Command = Callable[[Path, str], list[str]]
# fmt: off
COMMANDS: dict[str, Command] = {
    "init": lambda d, v: ["init", "--out", str(d / f"{v}.yaml")],
    "init-exists": lambda d, v: ["init", "--out", str(_spec(d, v).parent)],
    "validate": lambda d, v: ["validate", str(_spec(d, v))],
    "validate-missing": lambda d, v: ["validate", str(d / f"{v}.yaml")],
    "check": lambda d, v: ["check", str(_findings(d, v)), "--spec", str(_spec(d, v))],
    "show": lambda d, v: ["show", str(_findings(d, v, ALIGNED))],
    "run-dry": lambda d, v: ["run", str(_findings(d, v)), "--spec", str(_spec(d, v)), "--dry-run"],
    "gate-missing-spec": lambda d, v: ["gate", "--spec", str(d / v), "--model-run", "r"],
    "gate-metric": lambda d, v: [
        "gate", "--spec", str(TEMPLATE_SPEC), "--model-run", "r", "--metric", v, "--dry-run"
    ],
    "plan-dry": lambda d, v: [
        "plan", "--scores", str(_scores(d, v)), "--spec", str(_spec(d, v)),
        "--group-column", "segment", "--dry-run",
    ],
    "plan-missing-column": lambda d, v: [
        "plan", "--scores", str(_scores(d, v)), "--spec", str(TEMPLATE_SPEC), "--id-column", v,
        "--dry-run",
    ],
    "usage-unknown-option": lambda d, v: ["check", f"--x{v}", "--spec", "s"],
    "usage-bad-date": lambda d, v: [
        "check", str(CLEAN), "--spec", str(TEMPLATE_SPEC), "--freshness-reference", v
    ],
}
# fmt: on


def _invoke(command: Command, value: str, root: Path) -> Result:
    with tempfile.TemporaryDirectory(dir=root) as folder:
        return CliRunner().invoke(cli, command(Path(folder), value))


def _lines(result: Result) -> tuple[int, int]:
    return len(result.stdout.splitlines()), len(result.stderr.splitlines())


@pytest.mark.parametrize("name", sorted(COMMANDS))
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=values)
def test_no_value_adds_a_line_or_an_escape(name: str, value: str, tmp_path: Path) -> None:
    command = COMMANDS[name]
    hostile = _invoke(command, value, tmp_path)
    baseline = _invoke(command, tamed(value), tmp_path)
    assert hostile.exception is None or isinstance(hostile.exception, SystemExit), hostile.output
    for stream in (hostile.stdout, hostile.stderr):
        assert not UNSAFE_OUT.search(stream), repr(stream)
    assert _lines(hostile) == _lines(baseline), (hostile.output, baseline.output)
    assert hostile.exit_code == baseline.exit_code, (hostile.output, baseline.output)


def test_a_forged_status_line_in_a_path_stays_inside_its_line(tmp_path: Path) -> None:
    """The issue's case: a folder named ``dir\\nstatus: ALIGNED`` under a real NEEDS_REVIEW."""
    findings = _findings(tmp_path, "dir\nstatus:   ALIGNED")
    result = CliRunner().invoke(cli, ["check", str(findings), "--spec", str(TEMPLATE_SPEC)])
    assert result.exit_code == 0, result.output
    statuses = [line for line in result.stdout.splitlines() if line.startswith("status:")]
    assert statuses == ["status:   NEEDS_REVIEW"]
    assert "dir\\nstatus:   ALIGNED" in result.stdout


def test_json_output_keeps_values_exact(tmp_path: Path) -> None:
    """JSON is escaped by ``json.dumps`` alone: the value a job reads back is the value given."""
    value = "dir\nstatus: ALIGNED\x1b[2J"
    findings = _findings(tmp_path, value)
    result = CliRunner().invoke(
        cli, ["check", str(findings), "--spec", str(TEMPLATE_SPEC), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings_path"] == str(findings)
