"""Findings are someone else's file: what we write must load in the framework's strict dataclass
and survive its own JSON/YAML save, and every byte outside ``metadata`` stays as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from alignment_mlflow.findings.document import base_sha256, parse_findings
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

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
