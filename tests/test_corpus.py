"""Bad input through the CLI: exit 2, one clear message naming file and field, nothing written.

Cases live in tests/corpus/ (written by make_corpus.py; each file's first line says what the
message must contain); cases too big to commit are generated here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment_mlflow.findings.document import MAX_FINDINGS_BYTES
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CORPUS = Path(__file__).parent / "corpus"
CLEAN = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"


def expectation(path: Path) -> str:
    sidecar = path.with_suffix(".expect")
    if sidecar.exists():
        return sidecar.read_text().strip()
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


SPEC_CASES = sorted(p for p in (CORPUS / "spec").iterdir() if p.suffix in (".yaml", ".json"))
FINDINGS_CASES = sorted((CORPUS / "findings").glob("*_findings.yaml"))


def run_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", "run", *args],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )


def workspace(tmp: Path) -> Path:
    folder = tmp / "findings"
    folder.mkdir()
    shutil.copy2(CLEAN, folder / CLEAN.name)
    return folder


def assert_rejected(result: subprocess.CompletedProcess[str], tmp: Path, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stderr.lower().count("error: ") == 1
    assert "run:" not in result.stdout  # no summary: the job did not happen
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    # Nothing written: no Delta table, no MLflow store, the findings untouched.
    assert not (tmp / "alignment_delta").exists()
    assert not (tmp / "mlflow.db").exists()
    assert (tmp / "findings" / CLEAN.name).read_bytes() == CLEAN.read_bytes()


@pytest.mark.parametrize("case", SPEC_CASES, ids=lambda p: p.stem)
def test_bad_spec(case: Path, tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(case))
    assert_rejected(result, tmp_path, expectation(case), case.name)


@pytest.mark.parametrize("case", FINDINGS_CASES, ids=lambda p: p.stem)
def test_bad_findings(case: Path, tmp_path: Path) -> None:
    workspace(tmp_path)
    bad = tmp_path / "bad" / case.name
    bad.parent.mkdir()
    shutil.copy2(case, bad)
    before = bad.read_bytes()
    result = run_cli(tmp_path, "--findings", str(bad), "--spec", str(TEMPLATE_SPEC))
    assert_rejected(result, tmp_path, expectation(case), case.name)
    assert bad.read_bytes() == before


ARG_CASES = {
    "table_sql_injection": (["--tiers-table", "a.b; DROP TABLE x"], "invalid tiers table name 'a.b; DROP TABLE x'"),
    "table_backticks": (["--tiers-table", "`main`.`s`.`t`"], "invalid tiers table name"),
    "table_bare_word": (["--tiers-table", "tiers"], "catalog.schema.table"),
    "table_four_parts": (["--tiers-table", "a.b.c.d"], "invalid tiers table name 'a.b.c.d'"),
    "tracking_uri_scheme": (["--tracking-uri", "ftp://host/x"], "invalid tracking URI 'ftp://host/x'"),
    # a bare word is a relative path to MLflow: the hint says how to write a store URI
    "tracking_uri_spaces": (["--tracking-uri", "not a uri"], "is a plain path, not a tracking URI: write sqlite:///"),
    "databricks_plain_experiment": (["--tracking-uri", "databricks", "--experiment", "churn"], "is not a workspace path"),
    "unknown_option": (["--colour", "blue"], "No such option"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ARG_CASES), ids=str)
def test_bad_arguments(case: str, tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    extra, fragment = ARG_CASES[case]
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(TEMPLATE_SPEC), *extra)
    assert_rejected(result, tmp_path, fragment)


def test_tiers_path_under_a_file(tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    (tmp_path / "afile").write_text("x")
    target = str(tmp_path / "afile" / "tiers")
    result = run_cli(
        tmp_path, "--findings", str(folder), "--spec", str(TEMPLATE_SPEC), "--tiers-table", target
    )
    assert_rejected(result, tmp_path, "afile is a file")


def test_50_mb_spec_is_refused_before_reading(tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.write(b"# padding\n" * 5_000_000)
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(big))
    assert_rejected(result, tmp_path, "50,000,000 bytes", "big.yaml")


def test_findings_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    workspace(tmp_path)
    big = tmp_path / "big" / "huge_findings.yaml"
    big.parent.mkdir()
    with big.open("wb") as fh:
        fh.write(CLEAN.read_bytes())
        fh.truncate(MAX_FINDINGS_BYTES + 1)  # sparse: the size is real, the disk stays empty
    result = run_cli(tmp_path, "--findings", str(big), "--spec", str(TEMPLATE_SPEC))
    assert_rejected(result, tmp_path, "over the limit", "huge_findings.yaml")


# --------------------------------------------------------------------------- unbounded reads

NOT_FILES = {
    "device": lambda tmp: Path("/dev/zero"),
    "fifo": lambda tmp: _fifo(tmp / "pipe_findings.yaml"),
    "sparse_10_gb": lambda tmp: _sparse(tmp / "sparse_findings.yaml", 10 << 30),
}


def _fifo(path: Path) -> Path:
    os.mkfifo(path)  # nobody ever writes: opening it without O_NONBLOCK would hang
    return path


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.parametrize("kind", sorted(NOT_FILES), ids=str)
def test_findings_that_is_no_regular_file_is_refused_at_once(kind: str, tmp_path: Path) -> None:
    workspace(tmp_path)
    path = NOT_FILES[kind](tmp_path)
    result = run_cli(tmp_path, "--findings", str(path), "--spec", str(TEMPLATE_SPEC))
    expected = {"device": "is a character device", "fifo": "is a FIFO", "sparse_10_gb": "over"}
    assert_rejected(result, tmp_path, expected[kind], str(path))


@pytest.mark.parametrize("kind", sorted(NOT_FILES), ids=str)
def test_spec_that_is_no_regular_file_is_refused_at_once(kind: str, tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    path = NOT_FILES[kind](tmp_path)
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(path))
    expected = {"device": "is a character device", "fifo": "is a FIFO", "sparse_10_gb": "over"}
    assert_rejected(result, tmp_path, expected[kind], str(path))


def test_a_fifo_among_findings_in_a_folder_is_refused(tmp_path: Path) -> None:
    workspace(tmp_path)
    folder = tmp_path / "only_a_pipe"
    folder.mkdir()
    pipe = _fifo(folder / "x_findings.yaml")
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(TEMPLATE_SPEC))
    assert_rejected(result, tmp_path, "is a FIFO", str(pipe))


def test_folder_without_findings(tmp_path: Path) -> None:
    workspace(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "multi_dataset_findings.yaml", empty)
    (empty / "notes.yaml").write_text("a: 1\n")
    result = run_cli(tmp_path, "--findings", str(empty), "--spec", str(TEMPLATE_SPEC))
    assert_rejected(result, tmp_path, f"no findings file in {empty}", "*_findings.yaml")


def test_folder_where_a_spec_file_is_expected(tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(folder))
    assert_rejected(result, tmp_path, "is a folder", str(folder))


def test_missing_findings_path(tmp_path: Path) -> None:
    workspace(tmp_path)
    missing = tmp_path / "nowhere" / "x_findings.yaml"
    result = run_cli(tmp_path, "--findings", str(missing), "--spec", str(TEMPLATE_SPEC))
    assert_rejected(result, tmp_path, f"{missing} does not exist")


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads any file, so permissions cannot be denied here"
)
def test_unreadable_spec(tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    spec = tmp_path / "spec.yaml"
    shutil.copy2(TEMPLATE_SPEC, spec)
    spec.chmod(0)
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(spec))
    assert_rejected(result, tmp_path, "permission denied", "spec.yaml")


def test_the_corpus_is_big_enough() -> None:
    generated = 14  # the tests above that build their input
    assert len(SPEC_CASES) + len(FINDINGS_CASES) + len(ARG_CASES) + generated >= 60


# --------------------------------------------------------------------------- random specs

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-2, 2), st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    section=st.sampled_from(
        [
            "business_context",
            "success_metrics",
            "deployment_requirements",
            "data_constraints",
            "interventions",
        ]
    ),
    value=VALUES,
)
def test_random_specs_never_crash_the_cli(section: str, value: object, tmp_path: Path) -> None:
    """In-process (CliRunner) so that 40 examples stay fast; --dry-run so nothing is written."""
    import yaml
    from click.testing import CliRunner

    from alignment_mlflow.cli import cli

    data = yaml.safe_load(TEMPLATE_SPEC.read_text())
    data[section] = value
    spec = tmp_path / "random.yaml"
    spec.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(
        cli, ["run", "--findings", str(CLEAN), "--spec", str(spec), "--dry-run"]
    )
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "random.yaml" in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


# --------------------------------------------------------------------------- hostile YAML


@pytest.mark.parametrize("levels", [10_000, 30_000], ids=str)
@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused_before_composing(style: str, levels: int, tmp_path: Path) -> None:
    """10,000 levels used to raise RecursionError; 30,000 crashed the process inside libyaml."""
    folder = workspace(tmp_path)
    spec = tmp_path / "deep.yaml"
    body = "[" * levels + "]" * levels if style == "flow" else "- " * levels + "x"
    spec.write_text(f"business_context: {body}\n" if style == "flow" else body + "\n")
    result = run_cli(tmp_path, "--findings", str(folder), "--spec", str(spec))
    assert_rejected(result, tmp_path, "nested more than 100 levels deep", "deep.yaml:1")


def test_deep_findings_are_refused(tmp_path: Path) -> None:
    workspace(tmp_path)
    bad = tmp_path / "bad" / "deep_findings.yaml"
    bad.parent.mkdir()
    bad.write_text(CLEAN.read_text() + "snapshot_id: " + "[" * 30_000 + "]" * 30_000 + "\n")
    result = run_cli(tmp_path, "--findings", str(bad), "--spec", str(TEMPLATE_SPEC))
    assert_rejected(result, tmp_path, "nested more than 100 levels deep", "deep_findings.yaml")


@pytest.mark.parametrize("tag", ["!!int", "!!float", "!!bool", "!!timestamp", "!!binary"])
def test_a_mistagged_findings_value_is_never_echoed(tag: str, tmp_path: Path) -> None:
    workspace(tmp_path)
    bad = tmp_path / "bad" / "tagged_findings.yaml"
    bad.parent.mkdir()
    secret = "jane.doe@example.com"
    bad.write_text(
        CLEAN.read_text().replace("most_common_value: S01500", f"most_common_value: {tag} {secret}")
    )
    result = run_cli(tmp_path, "--findings", str(bad), "--spec", str(TEMPLATE_SPEC))
    assert_rejected(result, tmp_path, "columns.entity_id.universal_metrics.most_common_value")
    assert secret not in result.stderr + result.stdout
    assert "jane" not in result.stderr + result.stdout


def test_mixed_and_date_keys_in_findings_align_and_rerun(tmp_path: Path) -> None:
    """YAML keys of mixed types (``1:``, ``b:``, a date) used to crash the content hash."""
    folder = tmp_path / "findings"
    folder.mkdir()
    path = folder / CLEAN.name
    path.write_text(
        CLEAN.read_text().replace("metadata:\n", "metadata:\n  1: a\n  b: c\n  2020-01-01: d\n", 1)
    )
    args = ("--findings", str(path), "--spec", str(TEMPLATE_SPEC), "--json")
    args += ("--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}")
    first = run_cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_cli(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    import json

    assert json.loads(again.stdout)["reused_run"] is True


@pytest.mark.parametrize("where", ["missing/dir/x.yaml", "afile/x.yaml"])
def test_init_into_a_folder_that_is_not_there(where: str, tmp_path: Path) -> None:
    """Issue 23: ``init --out missing/dir/x.yaml`` is an input error naming the folder (exit 2),
    never "unexpected"; no folder is created."""
    from click.testing import CliRunner

    from alignment_mlflow.cli import cli

    (tmp_path / "afile").write_text("x")
    out = tmp_path / where
    result = CliRunner().invoke(cli, ["init", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "unexpected" not in result.stderr
    assert f"the folder {out.parent}" in result.stderr
    assert "mkdir -p" in result.stderr
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_init_writes_the_whole_template_with_ordinary_permissions(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from alignment_mlflow.cli import cli

    out = tmp_path / "x.yaml"
    result = CliRunner().invoke(cli, ["init", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == TEMPLATE_SPEC.read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.yaml"]
