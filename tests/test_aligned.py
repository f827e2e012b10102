"""The spec an aligned findings file carries: what the gate and the plan judge against."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from alignment_mlflow import align
from alignment_mlflow.errors import FindingsError, InvalidInputError
from alignment_mlflow.findings.aligned import load_spec_source, recorded_tracking_uri
from alignment_mlflow.spec import build_spec, load_spec, source_sections
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CLEAN = "subscription_clean_408768_findings.yaml"


@pytest.fixture(scope="module")
def aligned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("aligned")
    shutil.copy2(FINDINGS_FIXTURES / CLEAN, tmp / CLEAN)
    align(
        tmp / CLEAN,
        TEMPLATE_SPEC,
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
        tiers_table=str(tmp / "tiers"),
    )
    return tmp / CLEAN


def test_source_sections_rebuild_the_same_spec() -> None:
    spec = load_spec(TEMPLATE_SPEC)
    assert build_spec(source_sections(spec)).sha256 == spec.sha256


def test_a_spec_file_is_loaded_as_a_spec() -> None:
    got = load_spec_source(str(TEMPLATE_SPEC))
    assert (got.spec.sha256, got.from_findings) == (load_spec(TEMPLATE_SPEC).sha256, False)


def test_aligned_findings_give_the_aligned_spec_and_its_record(aligned: Path) -> None:
    got = load_spec_source(str(aligned))
    assert got.spec.sha256 == load_spec(TEMPLATE_SPEC).sha256
    assert got.alignment["mlflow"]["run_id"]


def test_findings_never_aligned_are_refused(tmp_path: Path) -> None:
    shutil.copy2(FINDINGS_FIXTURES / CLEAN, tmp_path / CLEAN)
    with pytest.raises(FindingsError, match=r"no metadata\.alignment"):
        load_spec_source(str(tmp_path / CLEAN))


def test_a_hand_edited_stored_spec_is_refused(aligned: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(aligned.read_text())
    data["metadata"]["alignment"]["spec_source"]["business_context"]["timeline"] = "edited"
    edited = tmp_path / CLEAN
    edited.write_text(yaml.safe_dump(data))
    with pytest.raises(FindingsError, match="edited by hand"):
        load_spec_source(str(edited))


def test_a_missing_spec_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        load_spec_source(str(tmp_path / "nope_findings.yaml"))


def test_the_recorded_store_is_followed_unless_its_credentials_were_removed() -> None:
    """plan and outcomes follow the aligned run's store; a URI written redacted cannot be used."""
    assert recorded_tracking_uri({"mlflow": {"tracking_uri": "sqlite:///m.db"}}) == "sqlite:///m.db"
    assert recorded_tracking_uri({"mlflow": {"tracking_uri": "http://***@host:5000"}}) is None
    assert recorded_tracking_uri({"mlflow": {"tracking_uri": 5000}}) is None
    assert recorded_tracking_uri({"mlflow": None}) is None
    assert recorded_tracking_uri({}) is None
