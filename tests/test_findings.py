"""Findings: discovery, reading, and writing the alignment back without losing a byte."""

from __future__ import annotations

import difflib
import multiprocessing
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from _databricks_fake import FakeWorkspace
from alignment_mlflow.errors import FindingsError
from alignment_mlflow.findings.discovery import choose_findings
from alignment_mlflow.findings.document import FRAMEWORK_KEYS, base_sha256, parse_findings
from alignment_mlflow.findings.io import (
    locate_findings,
    read_findings,
    read_related_findings,
    update_findings_metadata,
)
from alignment_mlflow.findings.storage import Entry
from alignment_mlflow.findings.writeback import apply_metadata
from alignment_mlflow.spec import load_spec, notebook_metadata
from conftest import ALL_FINDINGS, FINDINGS_FIXTURES, SINGLE_DATASET_FINDINGS, TEMPLATE_SPEC

UPDATES = notebook_metadata(load_spec(TEMPLATE_SPEC))
ALIGNMENT = {
    "alignment": {"spec_sha256": "abc", "mlflow": {"run_id": "r1"}, "delta": {"version": 1}}
}


def metadata_span(text: str) -> tuple[int, int]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("metadata:"))
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i] and not lines[i].startswith((" ", "-"))
        ),
        len(lines),
    )
    return start, end


@pytest.mark.parametrize("path", SINGLE_DATASET_FINDINGS, ids=lambda p: p.stem)
def test_every_fixture_round_trips_with_only_metadata_changed(path: Path) -> None:
    doc = parse_findings(path.read_bytes(), str(path))
    new = apply_metadata(doc.text, {**UPDATES, **ALIGNMENT})
    old_lines, new_lines = doc.text.splitlines(), new.splitlines()
    o0, o1 = metadata_span(doc.text)
    n0, n1 = metadata_span(new)
    assert old_lines[:o0] == new_lines[:n0]
    assert old_lines[o1:] == new_lines[n1:]
    before, after = yaml.safe_load(doc.text), yaml.safe_load(new)
    assert list(after) == list(before)
    assert {k: v for k, v in after.items() if k != "metadata"} == {
        k: v for k, v in before.items() if k != "metadata"
    }
    for key, value in (before["metadata"] or {}).items():
        if key not in UPDATES:
            assert after["metadata"][key] == value
    assert after["metadata"]["alignment"]["mlflow"]["run_id"] == "r1"
    assert apply_metadata(new, {**UPDATES, **ALIGNMENT}) == new  # idempotent
    assert base_sha256(parse_findings(new.encode(), "x")) == base_sha256(doc)


def test_template_on_the_clean_file_writes_exactly_what_the_notebook_wrote() -> None:
    clean = (FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml").read_text()
    aligned = (FINDINGS_FIXTURES / "subscription_aligned_408768_findings.yaml").read_text()
    ours = apply_metadata(clean, UPDATES)
    diff = [
        line
        for line in difflib.unified_diff(ours.splitlines(), aligned.splitlines(), lineterm="", n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    # Only the lines that differ between the two source datasets remain.
    assert all(
        ("subscription_" in d or "exp_" in d or "exploration_timestamp" in d) for d in diff
    ), diff


def test_metadata_null_and_hand_formatted_files(tmp_path: Path) -> None:
    text = (FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml").read_text()
    start, end = metadata_span(text)
    lines = text.splitlines()
    nulled = "\n".join([*lines[:start], "metadata: null", *lines[end:]]) + "\n"
    new = apply_metadata(nulled, UPDATES)
    assert yaml.safe_load(new)["metadata"]["business_context"]["timeline"] == "Q1 2025"
    odd = "# my notes\nsource_path: x\nsource_format: csv   # hand-edited\ncolumns: {}\nmetadata:\n  keep: [1, 2]\n"
    new = apply_metadata(odd, UPDATES)
    assert new.startswith(
        "# my notes\nsource_path: x\nsource_format: csv   # hand-edited\ncolumns: {}\n"
    )
    assert yaml.safe_load(new)["metadata"]["keep"] == [1, 2]


def test_base_sha_changes_when_anything_else_changes() -> None:
    path = SINGLE_DATASET_FINDINGS[0]
    doc = parse_findings(path.read_bytes(), str(path))
    edited = path.read_text().replace("\nrow_count: ", "\nrow_count: 1", 1)
    assert edited != path.read_text()
    assert base_sha256(parse_findings(edited.encode(), str(path))) != base_sha256(doc)
    theirs = apply_metadata(path.read_text(), {"their_key": 1})
    assert base_sha256(parse_findings(theirs.encode(), str(path))) != base_sha256(doc)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"a: [1\n", "not valid YAML"),
        (b"- 1\n", "expected a YAML mapping"),
        (b"source_path: x\ncolumns: {}\n", "missing source_format"),
        (b"source_path: x\nsource_format: csv\ncolumns: []\n", "`columns` is not a mapping"),
        (
            b"source_path: x\nsource_format: csv\ncolumns: {}\nmetadata: [1]\n",
            "`metadata` is a list",
        ),
        (
            b"source_path: x\nsource_format: csv\ncolumns: {}\nsurprise: 1\n",
            "unknown top-level key(s) surprise",
        ),
    ],
)
def test_bad_findings_files(content: bytes, fragment: str) -> None:
    with pytest.raises(
        FindingsError, match=fragment.replace("(", r"\(").replace(")", r"\)")
    ) as exc:
        parse_findings(content, "/data/x_findings.yaml")
    assert "/data/x_findings.yaml" in str(exc.value)


def test_multi_dataset_file_is_refused_with_advice() -> None:
    path = FINDINGS_FIXTURES / "multi_dataset_findings.yaml"
    with pytest.raises(FindingsError, match="multi-dataset summary"):
        parse_findings(path.read_bytes(), str(path))


def test_known_keys_match_every_fixture() -> None:
    for path in SINGLE_DATASET_FINDINGS:
        assert set(yaml.safe_load(path.read_text())) <= set(FRAMEWORK_KEYS)


def test_view_carries_no_raw_values() -> None:
    path = FINDINGS_FIXTURES / "telco_pii_churn_408768_findings.yaml"
    raw = yaml.safe_load(path.read_text())
    view = parse_findings(path.read_bytes(), str(path)).view
    values = {
        str(c["universal_metrics"]["most_common_value"])
        for c in raw["columns"].values()
        if c.get("inferred_type") not in ("numeric_continuous", "numeric_discrete", "binary")
    }
    dumped = repr(view)
    leaked = [v for v in values if len(v) > 3 and v in dumped]
    assert leaked == []
    assert view.columns["phone"].pii_detected
    assert view.columns["email"].inferred_type == "categorical_cyclical"


def entry(name: str, mtime: float) -> Entry:
    return Entry(f"/f/{name}", name, False, 1, mtime)


def test_discovery_prefers_aggregated_then_newest_and_skips_multi_dataset() -> None:
    choice = choose_findings(
        [
            entry("a_findings.yaml", 300),
            entry("b_x_aggregated_1_findings.yaml", 100),
            entry("c_y_aggregated_2_findings.yaml", 200),
            entry("multi_dataset_findings.yaml", 999),
            entry("notes.yaml", 999),
        ],
        "/f",
    )
    assert choice.chosen.name == "c_y_aggregated_2_findings.yaml"
    assert "aggregated" in choice.reason
    assert dict(choice.skipped) == {
        "a_findings.yaml": "not aggregated; an aggregated file is preferred",
        "b_x_aggregated_1_findings.yaml": "older",
        "multi_dataset_findings.yaml": "multi-dataset summary",
    }
    plain = choose_findings([entry("a_findings.yaml", 1), entry("b_findings.yaml", 2)], "/f")
    assert plain.chosen.name == "b_findings.yaml"


def test_folder_without_candidates_names_folder_and_pattern() -> None:
    with pytest.raises(
        FindingsError, match=r"no findings file in /f: expected a file named \*_findings.yaml"
    ):
        choose_findings([entry("multi_dataset_findings.yaml", 1)], "/f")


def test_locate_read_and_related(findings_copy: Path) -> None:
    loc = locate_findings(str(findings_copy))
    assert loc.discovery is not None
    assert loc.path.endswith("customer_emails_8m_408768_aggregated_5cde09_findings.yaml")
    doc = read_findings(loc)
    related = {d.view.file_name for d in read_related_findings(loc, doc)}
    assert "customer_emails_8m_408768_findings.yaml" in related
    assert "multi_dataset_findings.yaml" not in related


def test_locate_errors(tmp_path: Path) -> None:
    with pytest.raises(FindingsError, match="does not exist"):
        locate_findings(str(tmp_path / "missing"))
    with pytest.raises(FindingsError, match="no findings file"):
        locate_findings(str(tmp_path))


def test_update_is_idempotent_and_keeps_a_backup(findings_copy: Path) -> None:
    path = findings_copy / "subscription_clean_408768_findings.yaml"
    original = path.read_bytes()
    loc = locate_findings(str(path))
    first = update_findings_metadata(loc, read_findings(loc), UPDATES)
    assert first.changed
    assert (findings_copy / (path.name + ".bak")).read_bytes() == original
    content = path.read_bytes()
    second = update_findings_metadata(loc, read_findings(loc), UPDATES)
    assert not second.changed
    assert path.read_bytes() == content


def test_a_concurrent_change_is_kept_and_our_keys_reapplied(findings_copy: Path) -> None:
    path = findings_copy / "subscription_clean_408768_findings.yaml"
    loc = locate_findings(str(path))
    doc = read_findings(loc)
    # Someone else writes their metadata key after we read.
    path.write_text(apply_metadata(path.read_text(), {"theirs": {"x": 1}}))
    result = update_findings_metadata(loc, doc, UPDATES)
    assert result.attempts == 2
    meta = yaml.safe_load(path.read_text())["metadata"]
    assert meta["theirs"] == {"x": 1}
    assert meta["business_context"]["project_name"] == "Customer Churn Prediction"


def _writer(path: str, key: str, n: int) -> None:
    loc = locate_findings(path)
    for i in range(n):
        update_findings_metadata(loc, read_findings(loc), {key: {"i": i}}, max_attempts=50)


def test_two_processes_updating_one_file_each_keep_their_keys(findings_copy: Path) -> None:
    path = str(findings_copy / "telco_pii_churn_408768_findings.yaml")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, key, 5)) for key in ("proc_a", "proc_b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    meta = yaml.safe_load(Path(path).read_text())["metadata"]
    assert meta["proc_a"] == {"i": 4}
    assert meta["proc_b"] == {"i": 4}


def test_disk_errors_become_storage_errors(
    findings_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from alignment_mlflow.errors import StorageError
    from alignment_mlflow.findings.storage import local

    path = findings_copy / "subscription_clean_408768_findings.yaml"
    original = path.read_bytes()
    loc = locate_findings(str(path))

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local.os, "fsync", full)
    with pytest.raises(StorageError, match="disk full"):
        update_findings_metadata(loc, read_findings(loc), UPDATES)
    assert path.read_bytes() == original
    assert not [p for p in findings_copy.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- over the SDK


def upload_fixtures(ws: FakeWorkspace, remote_folder: str) -> Path:
    folder = ws.local(remote_folder)
    folder.mkdir(parents=True)
    for p in ALL_FINDINGS:
        shutil.copy2(p, folder / p.name)
    aggregated = folder / "customer_emails_8m_408768_aggregated_5cde09_findings.yaml"
    os.utime(aggregated, (time.time(), time.time()))
    return folder


@pytest.mark.parametrize("remote", ["dbfs:/churn/findings", "/Volumes/main/churn/findings"])
def test_discovery_read_and_write_through_the_sdk(
    databricks_workspace: FakeWorkspace, remote: str
) -> None:
    folder = upload_fixtures(databricks_workspace, remote)
    client = databricks_workspace.client()
    loc = locate_findings(remote, client=client)
    assert loc.path == f"{remote}/customer_emails_8m_408768_aggregated_5cde09_findings.yaml"
    doc = read_findings(loc)
    assert doc.view.is_aggregated
    result = update_findings_metadata(loc, doc, UPDATES)
    assert result.changed
    written = yaml.safe_load((folder / Path(loc.path).name).read_text())
    assert written["metadata"]["success_metrics"][0]["Metric"] == "Model AUC"
    again = update_findings_metadata(loc, read_findings(loc), UPDATES)
    assert not again.changed


def test_sdk_auth_failure_and_missing_file(databricks_workspace: FakeWorkspace) -> None:
    upload_fixtures(databricks_workspace, "dbfs:/churn")
    with pytest.raises(FindingsError, match=r"permission denied.*DATABRICKS_TOKEN"):
        locate_findings("dbfs:/churn", client=databricks_workspace.client(token="wrong"))
    with pytest.raises(FindingsError, match="does not exist"):
        locate_findings(
            "/Volumes/main/churn/nope_findings.yaml", client=databricks_workspace.client()
        )
