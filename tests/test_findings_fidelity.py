"""Findings are someone else's file: what we write must load in the framework's strict dataclass
and survive its own JSON/YAML save, and every byte outside ``metadata`` stays as it was."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from _specs import spec_data
from alignment_mlflow.errors import SpecError
from alignment_mlflow.findings.aligned import spec_from_alignment
from alignment_mlflow.findings.document import base_sha256, parse_findings
from alignment_mlflow.findings.io import locate_findings, read_findings, update_findings_metadata
from alignment_mlflow.findings.prior import (
    NOTEBOOK_KEYS,
    changed_destinations,
    describe_replaced,
    replaced_notebook_block,
)
from alignment_mlflow.findings.writeback import alignment_metadata, apply_metadata
from alignment_mlflow.spec import load_spec, notebook_metadata, spec_from_text, spec_to_dict
from alignment_mlflow.spec.model import plain
from conftest import FINDINGS_FIXTURES, SINGLE_DATASET_FINDINGS, TEMPLATE_SPEC

CLEAN = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"


def with_metadata(text: str, replacement: str | None) -> str:
    """``text`` with its top-level ``metadata`` block replaced (``None``: removed)."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("metadata:"))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "-", "\n")),
        len(lines),
    )
    middle = [] if replacement is None else [replacement]
    return "".join([*lines[:start], *middle, *lines[end:]])


# ----------------------------------------------------------------- missing, null, empty metadata


def test_missing_null_and_empty_metadata_hash_the_same() -> None:
    text = CLEAN.read_text()
    shas = {
        name: base_sha256(parse_findings(with_metadata(text, block).encode(), "x"))
        for name, block in (
            ("missing", None),
            ("null", "metadata: null\n"),
            ("bare", "metadata:\n"),
            ("empty", "metadata: {}\n"),
            ("only ours", "metadata:\n  alignment: {spec_sha256: x}\n  business_context: {}\n"),
        )
    }
    assert len(set(shas.values())) == 1, shas
    theirs = with_metadata(text, "metadata:\n  original_target_column: churned\n")
    assert base_sha256(parse_findings(theirs.encode(), "x")) not in shas.values()


def test_a_metadata_null_file_is_recognised_on_rerun(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from alignment_mlflow import align

    folder = tmp_path / "findings"
    folder.mkdir()
    findings = folder / CLEAN.name
    findings.write_text(with_metadata(CLEAN.read_text(), "metadata: null\n"))
    kwargs: dict[str, Any] = {
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "tiers_table": str(tmp_path / "tiers"),
        "experiment": "/Shared/alignment/null-metadata",
    }
    first = align(findings, TEMPLATE_SPEC, **kwargs)
    assert first.findings_updated
    assert yaml.safe_load(findings.read_text())["metadata"]["alignment"]["mlflow"]["run_id"] == (
        first.run_id
    )
    again = align(findings, TEMPLATE_SPEC, **kwargs)
    assert again.reused_run
    assert again.run_id == first.run_id
    assert not again.findings_updated
    client = MlflowClient(kwargs["tracking_uri"])
    exp = client.get_experiment_by_name(kwargs["experiment"])
    assert exp is not None
    assert len(client.search_runs([exp.experiment_id])) == 1


# ----------------------------------------------------------------- JSON-compatible values only

EXTRA_KEYS = (
    "  kickoff: 2026-01-15\n"
    "  signed_off: 2026-01-15 10:30:00Z\n"
    "  local_time: 2026-01-15t10:30:00.5-05:00\n"
    "  regions: !!set {emea, apac}\n"
    "  milestones: !!omap [{design: 2026-02-01}, {launch: 2026-03-01}]\n"
)


def dated_spec_text() -> str:
    text = TEMPLATE_SPEC.read_text()
    assert "business_context:\n" in text
    return text.replace("business_context:\n", "business_context:\n" + EXTRA_KEYS, 1)


def json_save(text: str) -> str:
    """What the framework's own save does with a loaded findings file: strict JSON."""
    return json.dumps(yaml.safe_load(text), allow_nan=False)


def aligned_text(spec_text: str) -> str:
    spec = spec_from_text(spec_text, "dated.yaml")
    spec_dict = spec_to_dict(spec)
    updates = alignment_metadata(
        spec,
        spec_dict=spec_dict,
        constraints=[],
        interventions=spec_dict["interventions"],
        aligned_at="2026-01-15T10:30:00Z",
        package_version="0",
        mlflow_refs={"run_id": "r1"},
        delta_refs={"table": "t", "version": 1},
        notebook=notebook_metadata(spec),
    )
    return apply_metadata(CLEAN.read_text(), updates)


def test_dates_timestamps_and_sets_are_written_as_json_values_without_anchors() -> None:
    text = aligned_text(dated_spec_text())
    meta_block = text[text.index("\nmetadata:") :]
    assert "&id" not in meta_block
    assert "*id" not in meta_block
    assert "!!" not in meta_block
    json_save(text)  # would raise on a date, a datetime or bytes
    ctx = yaml.safe_load(text)["metadata"]["business_context"]
    assert ctx["kickoff"] == "2026-01-15"
    assert ctx["signed_off"] == "2026-01-15T10:30:00+00:00"
    assert ctx["local_time"] == "2026-01-15T10:30:00.500000-05:00"
    assert ctx["regions"] == ["apac", "emea"]
    assert ctx["milestones"] == [["design", "2026-02-01"], ["launch", "2026-03-01"]]


def test_the_spec_an_aligned_file_carries_still_hashes_to_its_sha() -> None:
    spec = spec_from_text(dated_spec_text(), "dated.yaml")
    alignment = yaml.safe_load(aligned_text(dated_spec_text()))["metadata"]["alignment"]
    assert spec_from_alignment(alignment, "x_findings.yaml").sha256 == spec.sha256


def test_shared_objects_are_written_out_not_aliased() -> None:
    day = datetime.date(2026, 1, 15)
    shared = {"a": [1, 2]}
    text = apply_metadata(
        CLEAN.read_text(), {"x": {"d1": day, "d2": day, "s1": shared, "s2": shared}}
    )
    assert "&" not in text[text.index("\nmetadata:") :]
    assert yaml.safe_load(text)["metadata"]["x"]["s2"] == {"a": [1, 2]}


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
)
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(), st.integers()), inner, max_size=4),
        st.frozensets(st.one_of(st.integers(), st.text()), max_size=4),
    ),
    max_leaves=20,
)


@given(_values)
def test_plain_makes_anything_yaml_can_load_json_compatible(value: Any) -> None:
    out = plain(value)
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert plain(out) == out


@pytest.mark.parametrize(
    ("section_yaml", "field"),
    [
        ("  logo: !!binary aGVsbG8=\n", "7: business_context.logo"),
        ("  ? !!binary aGk=\n  : x\n", "6: business_context"),
        ("  notes: [ok, !!binary aGk=]\n", "7: business_context.notes[1]"),
    ],
)
def test_binary_in_a_spec_is_refused_naming_the_field(section_yaml: str, field: str) -> None:
    text = TEMPLATE_SPEC.read_text().replace(
        "business_context:\n", "business_context:\n" + section_yaml, 1
    )
    with pytest.raises(SpecError) as exc:
        spec_from_text(text, "bin.yaml")
    message = str(exc.value)
    assert f"bin.yaml:{field}: " in message, message
    assert "binary" in message
    assert "aGk" not in message
    assert "hello" not in message


def test_a_parsed_field_holding_binary_or_infinity_gets_one_message() -> None:
    data = spec_data()
    data["interventions"][0]["cost"] = b"\x89PNG secret"
    data["interventions"][1]["expected_effectiveness"] = float("nan")
    data["deployment_requirements"]["max_latency_ms"] = float("inf")
    data["success_metrics"][0]["Goal"] = float("-inf")  # an alias of target, in its own spelling
    del data["success_metrics"][0]["target"]
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    paths = [p.path for p in exc.value.problems]
    assert sorted(paths) == [
        "deployment_requirements.max_latency_ms",
        "interventions[0].cost",
        "interventions[1].expected_effectiveness",
        "success_metrics[0].Goal",
    ], exc.value.problems
    message = str(exc.value)
    assert "interventions[0].cost: is binary data" in message
    assert "deployment_requirements.max_latency_ms: is not a finite number" in message
    assert "secret" not in message
    assert "PNG" not in message


def test_a_notebook_dict_with_values_yaml_cannot_hold_is_refused() -> None:
    data = spec_data()
    data["business_context"]["budget_amount"] = decimal.Decimal("50000")
    data["interventions"][0]["attachment"] = b"\x89PNG"
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    message = str(exc.value)
    assert "business_context.budget_amount: is a Decimal" in message
    assert "interventions[0].attachment: is binary data" in message


# ----------------------------------------------------------------- byte fidelity of the splice

OURS = {"alignment": {"spec_sha256": "abc", "mlflow": {"run_id": "r1"}}}
HEAD = "source_path: x\nsource_format: csv\n"


@pytest.mark.parametrize(
    ("metadata", "between"),
    [
        ("metadata:\n  a: 1\n", "# the columns, one per feature\n"),
        ("metadata:\n  a: 1\n", "\n# first\n\n   # second, indented\n\n"),
        ("metadata: null\n", "# after null\n"),
        ("metadata:\n", "# after an empty value\n"),
        ("metadata: {a: 1}\n", "# after a flow mapping\n"),
        ("metadata:\n  a:\n  - 1\n  - 2\n", "# after a list\n"),
        ("metadata:\n  a: |\n    text\n    more\n\n", "# after a block scalar\n"),
        ("metadata:\n  a: plain\n    folded\n", "# after a folded plain scalar\n"),
        ("metadata:\n  a:\n  b: 2\n  c:\n", "# after an empty nested value\n"),
    ],
)
def test_comments_above_the_key_after_metadata_are_kept(metadata: str, between: str) -> None:
    text = HEAD + metadata + between + "columns: {}\n"
    new = apply_metadata(text, OURS)
    assert new.startswith(HEAD + "metadata:\n")
    assert new.endswith(between + "columns: {}\n"), new
    assert yaml.safe_load(new)["metadata"]["alignment"]["mlflow"]["run_id"] == "r1"
    assert apply_metadata(new, OURS) == new


def test_comments_at_the_end_of_the_file_after_metadata_are_kept() -> None:
    text = HEAD + "columns: {}\nmetadata:\n  a: 1\n# the end\n"
    new = apply_metadata(text, OURS)
    assert new.endswith("    run_id: r1\n# the end\n"), new


def test_a_file_without_metadata_or_final_newline_gets_the_block_appended() -> None:
    new = apply_metadata(HEAD + "columns: {}", OURS)
    assert new.startswith(HEAD + "columns: {}\nmetadata:\n"), new


@given(
    st.lists(
        st.one_of(
            st.just(""),
            st.builds(
                lambda indent, body: " " * indent + "#" + body,
                st.integers(0, 6),
                st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20),
            ),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_comment_lines_before_the_next_key_are_kept(lines: list[str]) -> None:
    between = "".join(line + "\n" for line in lines)
    text = HEAD + "metadata:\n  theirs: [1, 2]\n" + between + "columns: {}\n"
    new = apply_metadata(text, OURS)
    assert new.endswith(between + "columns: {}\n")
    assert yaml.safe_load(new)["metadata"]["theirs"] == [1, 2]


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


@pytest.mark.parametrize("path", SINGLE_DATASET_FINDINGS, ids=lambda p: p.stem)
def test_bom_and_crlf_are_kept_on_every_fixture(path: Path) -> None:
    text = path.read_text()
    assert "\r" not in text
    lf = apply_metadata(text, OURS)
    for bom, convert in (("\ufeff", str), ("", crlf), ("\ufeff", crlf)):
        new = apply_metadata(bom + convert(text), OURS)
        assert new == bom + convert(lf)
        if convert is crlf:
            assert re.search(r"\r(?!\n)|(?<!\r)\n", new) is None  # no mixed line endings
        assert apply_metadata(new, OURS) == new


def test_a_bom_crlf_file_keeps_both_through_the_local_write(tmp_path: Path) -> None:
    original = ("\ufeff" + crlf(CLEAN.read_text())).encode("utf-8")
    path = tmp_path / CLEAN.name
    path.write_bytes(original)
    loc = locate_findings(str(path))
    doc = read_findings(loc)
    assert update_findings_metadata(loc, doc, OURS).changed
    written = path.read_bytes()
    assert written.startswith(b"\xef\xbb\xbfsource_path: ")
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", written) is None
    before, after = original.split(b"\r\nmetadata:"), written.split(b"\r\nmetadata:")
    assert before[0] == after[0]
    assert after[1].endswith(before[1].split(b"\r\ntime_series_metadata:", 1)[1])
    assert base_sha256(read_findings(loc)) == base_sha256(doc)


# ----------------------------------------------------------------- the local write


def _update(path: Path) -> None:
    loc = locate_findings(str(path))
    assert update_findings_metadata(loc, read_findings(loc), OURS).changed


@pytest.mark.parametrize("kind", ["absolute", "relative", "chain"])
def test_a_symlinked_findings_file_is_written_through_the_link(tmp_path: Path, kind: str) -> None:
    real_dir, link_dir = tmp_path / "store", tmp_path / "project"
    real_dir.mkdir()
    link_dir.mkdir()
    real = real_dir / CLEAN.name
    shutil.copy2(CLEAN, real)
    link = link_dir / CLEAN.name
    if kind == "absolute":
        link.symlink_to(real)
    elif kind == "relative":
        link.symlink_to(Path("..") / "store" / CLEAN.name)
    else:
        middle = link_dir / "middle_findings.yaml"
        middle.symlink_to(real)
        link.symlink_to(middle.name)
    _update(link)
    assert link.is_symlink()
    assert link.resolve() == real
    assert yaml.safe_load(real.read_text())["metadata"]["alignment"]["mlflow"]["run_id"] == "r1"
    assert (real_dir / (CLEAN.name + ".bak")).read_bytes() == CLEAN.read_bytes()
    assert sorted(p.name for p in link_dir.iterdir() if p.name.endswith(".tmp")) == []
    assert sorted(p.name for p in real_dir.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664, 0o600], ids=oct)
def test_the_new_file_and_the_backup_keep_the_original_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / CLEAN.name
    shutil.copy2(CLEAN, path)
    path.chmod(mode)
    _update(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / (CLEAN.name + ".bak")).stat().st_mode) == mode


# ----------------------------------------------------------------- what the findings already say

NOTEBOOK = notebook_metadata(load_spec(TEMPLATE_SPEC))


def other_notebook() -> dict[str, Any]:
    data = spec_data("Another Project")
    data["deployment_requirements"]["batch_frequency"] = "Weekly"
    return notebook_metadata(load_spec(data))


@pytest.mark.parametrize("existing", [None, [], "x", {}, {"original_target_column": "churned"}])
def test_nothing_is_replaced_when_there_is_no_notebook_block(existing: Any) -> None:
    assert replaced_notebook_block(existing, NOTEBOOK) == []


def test_the_notebooks_own_block_is_reported_when_it_differs() -> None:
    aligned = yaml.safe_load(
        (FINDINGS_FIXTURES / "subscription_aligned_408768_findings.yaml").read_text()
    )["metadata"]
    assert "alignment" not in aligned
    assert replaced_notebook_block(aligned, NOTEBOOK) == []  # the template wrote exactly this
    assert replaced_notebook_block(aligned, other_notebook()) == [
        "business_context",
        "deployment_requirements",
    ]
    everything = {**other_notebook(), "success_metrics": []}
    assert replaced_notebook_block(aligned, everything) == list(NOTEBOOK_KEYS)
    assert replaced_notebook_block(aligned, {"alignment": {}}) == []  # keys we do not write


def test_a_block_an_earlier_alignment_wrote_is_not_reported() -> None:
    ours = {**NOTEBOOK, "alignment": {"spec_sha256": "abc"}}
    assert replaced_notebook_block(ours, other_notebook()) == []
    not_ours = {**NOTEBOOK, "alignment": "someone else's key"}
    assert replaced_notebook_block(not_ours, other_notebook()) == [
        "business_context",
        "deployment_requirements",
    ]


def test_a_date_and_its_iso_string_are_the_same_content() -> None:
    existing = {
        "business_context": {**NOTEBOOK["business_context"], "kickoff": datetime.date(2026, 1, 15)}
    }
    updates = {"business_context": {**NOTEBOOK["business_context"], "kickoff": "2026-01-15"}}
    assert replaced_notebook_block(existing, updates) == []


def test_the_replaced_warning_names_the_file_and_keys() -> None:
    text = describe_replaced(["business_context", "success_metrics"], "/f/x_findings.yaml")
    assert text.startswith("/f/x_findings.yaml already has metadata.business_context, ")
    assert "metadata.success_metrics" in text
    assert "replaces them" in text


def recorded(uri: str, table: str) -> dict[str, Any]:
    return {
        "spec_sha256": "abc",
        "mlflow": {"tracking_uri": uri, "run_id": "r1"},
        "delta": {"table": table, "version": 3},
    }


@pytest.mark.parametrize(
    ("existing", "uri", "table"),
    [
        (None, "sqlite:////a/mlflow.db", "/a/t"),
        ({}, "sqlite:////a/mlflow.db", "/a/t"),
        ({"mlflow": None, "delta": "x"}, "sqlite:////a/mlflow.db", "/a/t"),
        (recorded("sqlite:////a/mlflow.db", "/a/t"), "sqlite:////a/./mlflow.db", "/a/t/"),
        (recorded("sqlite:////w/mlflow.db", "/w/tiers"), "sqlite:///mlflow.db", "./tiers"),
        (recorded("http://***@host:5000", "/a/t"), "http://u:pw@host:5000/", "file:///a/t"),
        (recorded("databricks", "Main.Churn.Tiers"), "databricks", "main.churn.tiers"),
        (recorded("/w/mlruns", "s3://b/t/"), "mlruns", "s3://b/t"),
    ],
)
def test_the_same_destinations_give_no_warning(existing: Any, uri: str, table: str) -> None:
    assert changed_destinations(existing, uri, table, cwd="/w") == []


def test_another_store_and_table_are_warned_about_without_secrets() -> None:
    existing = recorded("http://alice:s3cret@old:5000/?token=abc", "/old/alignment_delta/tiers")
    warnings = changed_destinations(
        existing, "http://bob:pa55@new:5000?token=xyz", "./alignment_delta/tiers", cwd="/new"
    )
    assert len(warnings) == 2
    store, table = warnings
    assert "tracking store http://***@old:5000/ (run r1)" in store
    assert "this run uses http://***@new:5000" in store
    assert "--tracking-uri" in store
    assert "tiers table /old/alignment_delta/tiers (version 3)" in table
    assert "writes ./alignment_delta/tiers" in table
    assert "relative to the working directory" in table
    for secret in ("alice", "s3cret", "bob", "pa55", "abc", "xyz"):
        assert secret not in store + table


def test_the_default_store_from_another_folder_is_warned_about() -> None:
    existing = recorded("sqlite:////home/me/project/mlflow.db", "/home/me/project/tiers")
    [warning] = changed_destinations(
        existing, "sqlite:////home/me/mlflow.db", "/home/me/project/tiers"
    )
    assert "sqlite:////home/me/project/mlflow.db" in warning
    assert "(./mlflow.db) is relative to the working directory" in warning


@given(st.text(), st.text())
def test_what_the_findings_record_is_never_a_change(uri: str, table: str) -> None:
    assert changed_destinations(recorded(uri, table), uri, table, cwd="/w") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file another owner")
def test_the_new_file_and_the_backup_keep_the_original_owner(tmp_path: Path) -> None:
    path = tmp_path / CLEAN.name
    shutil.copy2(CLEAN, path)
    os.chown(path, 4321, 4322)
    _update(path)
    for written in (path, tmp_path / (CLEAN.name + ".bak")):
        st = written.stat()
        assert (st.st_uid, st.st_gid) == (4321, 4322)


def test_align_with_a_dated_spec_writes_json_findings_and_reuses_its_run(tmp_path: Path) -> None:
    from alignment_mlflow import align

    spec = tmp_path / "dated.yaml"
    spec.write_text(dated_spec_text())
    findings = tmp_path / CLEAN.name
    shutil.copy2(CLEAN, findings)
    kwargs: dict[str, Any] = {
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "tiers_table": str(tmp_path / "tiers"),
        "experiment": "/Shared/alignment/dated",
    }
    first = align(findings, spec, **kwargs)
    text = findings.read_text()
    json_save(text)
    assert "&id" not in text
    assert yaml.safe_load(text)["metadata"]["business_context"]["kickoff"] == "2026-01-15"
    # The aligned findings file is itself a spec source whose stored spec hashes to its sha.
    again = align(findings, findings, **kwargs)
    assert again.reused_run
    assert again.run_id == first.run_id
    assert not again.findings_updated
