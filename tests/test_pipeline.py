"""align() in-process on a sqlite MLflow store: results, reuse, and faults at each step boundary."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_mlflow import align
from alignment_mlflow.errors import ConstraintViolationError, DeltaWriteError, StorageError
from alignment_mlflow.pipeline import JSON_KEYS
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

CLEAN = "subscription_clean_408768_findings.yaml"
TELCO = "telco_pii_churn_408768_findings.yaml"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / CLEAN, folder / CLEAN)
    return {
        "findings": folder / CLEAN,
        "kwargs": {
            "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "tiers_table": str(tmp_path / "tiers"),
            "experiment": "/Shared/alignment/pipeline-test",
        },
        "table": tmp_path / "tiers",
        "uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }


def delta_rows(table: Path) -> list[dict[str, Any]]:
    from deltalake import DeltaTable

    rows: list[dict[str, Any]] = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
    return rows


def runs(uri: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("/Shared/alignment/pipeline-test")
    if exp is None:
        return []
    return list(client.search_runs([exp.experiment_id]))


def test_align_writes_everything_and_rerun_reuses(env: dict[str, Any]) -> None:
    result = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert result.run_id
    assert not result.reused_run
    assert result.tiers_version == 1
    assert result.findings_updated
    assert tuple(result.to_json()) == JSON_KEYS
    assert "run:" in str(result)
    assert "tiers:" in str(result)
    [run] = runs(env["uri"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.alignment.delta_version"] == "1"

    before = env["findings"].read_bytes()
    again = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert again.reused_run
    assert again.run_id == result.run_id
    assert again.tiers_version == 1
    assert not again.tiers_changed
    assert not again.findings_updated
    assert env["findings"].read_bytes() == before
    assert len(runs(env["uri"])) == 1


def test_new_run_forces_a_fresh_run_and_the_rows_follow_it(env: dict[str, Any]) -> None:
    first = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    second = align(env["findings"], TEMPLATE_SPEC, new_run=True, **env["kwargs"])
    assert second.run_id != first.run_id
    assert not second.reused_run
    assert second.tiers_version == first.tiers_version + 1
    assert {r["mlflow_run_id"] for r in delta_rows(env["table"])} == {second.run_id}
    meta = yaml.safe_load(env["findings"].read_text())["metadata"]["alignment"]
    assert meta["mlflow"]["run_id"] == second.run_id


def test_dict_spec_from_a_notebook(env: dict[str, Any]) -> None:
    spec = yaml.safe_load(TEMPLATE_SPEC.read_text())
    spec["business_context"]["project_name"] = "Notebook Project"
    result = align(env["findings"], spec, **env["kwargs"])
    assert result.run_id
    meta = yaml.safe_load(env["findings"].read_text())["metadata"]
    assert meta["business_context"]["project_name"] == "Notebook Project"


def test_dry_run_writes_nothing(env: dict[str, Any]) -> None:
    before = env["findings"].read_bytes()
    result = align(env["findings"], TEMPLATE_SPEC, dry_run=True, **env["kwargs"])
    assert result.dry_run
    assert result.run_id is None
    assert env["findings"].read_bytes() == before
    assert not env["table"].exists()
    assert runs(env["uri"]) == []


def test_strict_stops_before_any_write(tmp_path: Path, env: dict[str, Any]) -> None:
    folder = tmp_path / "telco"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / TELCO, folder / TELCO)
    before = (folder / TELCO).read_bytes()
    with pytest.raises(ConstraintViolationError, match="PII"):
        align(folder, TEMPLATE_SPEC, strict=True, **env["kwargs"])
    assert (folder / TELCO).read_bytes() == before
    assert not env["table"].exists()
    assert runs(env["uri"]) == []


def _fail(exc: BaseException) -> Any:
    def raiser(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return raiser


def test_delta_failure_marks_run_failed_and_leaves_findings(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignment_mlflow.tiers import writer as tiers

    before = env["findings"].read_bytes()
    with monkeypatch.context() as m:
        m.setattr(tiers, "write_tiers", _fail(DeltaWriteError("injected delta failure")))
        with pytest.raises(DeltaWriteError):
            align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    [failed] = runs(env["uri"])
    assert failed.info.status == "FAILED"
    assert "injected delta failure" in failed.data.tags["alignment.error"]
    assert env["findings"].read_bytes() == before

    # A rerun completes the job with a fresh run (a FAILED run is never reused).
    result = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert result.run_id != failed.info.run_id
    assert not result.reused_run
    assert {r.info.status for r in runs(env["uri"])} == {"FAILED", "FINISHED"}


def test_findings_failure_marks_run_failed_and_rerun_completes(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignment_mlflow.findings import io as findings

    before = env["findings"].read_bytes()
    with monkeypatch.context() as m:
        m.setattr(findings, "update_findings_metadata", _fail(StorageError("injected disk full")))
        with pytest.raises(StorageError):
            align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    [failed] = runs(env["uri"])
    assert failed.info.status == "FAILED"
    assert env["findings"].read_bytes() == before

    result = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert result.findings_updated
    # The failed attempt committed the tiers naming its run; the rerun repoints them to its own,
    # so findings, rows and the FINISHED run agree.
    assert (result.tiers_version, result.tiers_changed) == (2, True)
    meta = yaml.safe_load(env["findings"].read_text())["metadata"]["alignment"]
    assert meta["mlflow"]["run_id"] == result.run_id
    assert meta["delta"]["version"] == result.tiers_version
    assert {r["mlflow_run_id"] for r in delta_rows(env["table"])} == {result.run_id}
    assert {r.info.run_id: r.info.status for r in runs(env["uri"])}[result.run_id] == "FINISHED"


def test_interrupt_during_delta_does_not_leave_a_running_run(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignment_mlflow.tiers import writer as tiers

    monkeypatch.setattr(tiers, "write_tiers", _fail(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert [r.info.status for r in runs(env["uri"])] != ["RUNNING"]


def test_replacing_the_notebooks_block_and_moving_stores_are_said(tmp_path: Path) -> None:
    aligned = "subscription_aligned_408768_findings.yaml"
    shutil.copy2(FINDINGS_FIXTURES / aligned, tmp_path / aligned)
    spec = yaml.safe_load(TEMPLATE_SPEC.read_text())
    spec["business_context"]["timeline"] = "Q3 2027"  # differs from the notebook's block
    kwargs: dict[str, Any] = {
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "tiers_table": str(tmp_path / "tiers"),
    }
    first = align(tmp_path / aligned, spec, **kwargs)
    assert any("this run replaces" in w and "business_context" in w for w in first.warnings)
    assert first.to_json()["warnings"] == list(first.warnings)
    moved = align(tmp_path / aligned, spec, **{**kwargs, "tiers_table": str(tmp_path / "other")})
    assert not any("this run replaces" in w for w in moved.warnings)  # our block now
    assert any("tiers" in w and str(tmp_path / "tiers") in w for w in moved.warnings)


def test_spec_warnings_are_said_by_run(env: dict[str, Any]) -> None:
    spec = yaml.safe_load(TEMPLATE_SPEC.read_text())
    spec["success_metrics"][0]["owner_team"] = "ds"  # an extra key far from any known one
    result = align(env["findings"], spec, dry_run=True, **env["kwargs"])
    assert any(w.startswith("spec: ") and "owner_team" in w for w in result.warnings)


def test_a_run_is_never_reused_for_another_tiers_table_or_findings_location(
    env: dict[str, Any], tmp_path: Path
) -> None:
    """Same spec, same findings content, same package: a prod alignment must not adopt a dev
    run (and overwrite its table/version tags) because it writes another table or reads another
    copy of the findings."""
    first = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    other_table = align(
        env["findings"], TEMPLATE_SPEC, **{**env["kwargs"], "tiers_table": str(tmp_path / "t2")}
    )
    assert not other_table.reused_run
    assert other_table.run_id != first.run_id
    elsewhere = tmp_path / "prod-findings"
    elsewhere.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / CLEAN, elsewhere / CLEAN)
    moved = align(elsewhere / CLEAN, TEMPLATE_SPEC, **env["kwargs"])
    assert not moved.reused_run
    assert moved.run_id not in (first.run_id, other_table.run_id)
    from mlflow import MlflowClient

    tags = MlflowClient(env["uri"]).get_run(first.run_id).data.tags
    assert tags["mlflow.alignment.delta_table"] == str(env["table"])
    again = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert (again.reused_run, again.run_id) == (True, first.run_id)


def test_a_changed_verdict_is_never_shown_on_a_reused_run(env: dict[str, Any]) -> None:
    """Issue 22: the same spec and findings with --freshness-reference turn needs_review into
    aligned; the run that shows it must say aligned on every surface, not keep the old tags."""
    from datetime import datetime, timezone

    from mlflow import MlflowClient

    first = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert first.status == "needs_review"
    reference = datetime(2023, 12, 9, tzinfo=timezone.utc)
    second = align(env["findings"], TEMPLATE_SPEC, freshness_reference=reference, **env["kwargs"])
    assert second.status == "aligned"
    run = MlflowClient(env["uri"]).get_run(str(second.run_id))
    tags, metrics = run.data.tags, run.data.metrics
    status_tags = [v for k, v in tags.items() if k.endswith(".status") or k.endswith("status")]
    assert "needs_review" not in status_tags
    assert "NEEDS REVIEW" not in tags["mlflow.note.content"].splitlines()[0]
    assert metrics["constraints_unverifiable"] == 0.0
    assert "unverifiable" not in [v for k, v in tags.items() if "constraint" in k]
    meta = yaml.safe_load(env["findings"].read_text())["metadata"]["alignment"]
    assert meta["mlflow"]["run_id"] == second.run_id
    assert {c["status"] for c in meta["data_constraints"]} == {"passed"}
    # The first run still shows its own verdict, unchanged.
    old = MlflowClient(env["uri"]).get_run(str(first.run_id)).data
    assert old.metrics["constraints_unverifiable"] >= 1.0
    assert "NEEDS REVIEW" in old.tags["mlflow.note.content"].splitlines()[0]


def test_the_spec_is_rendered_once_per_run(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's artifacts and the findings' metadata show one rendering of the spec."""
    import alignment_mlflow.spec as spec_pkg
    from alignment_mlflow.spec import render

    calls: dict[str, int] = {}

    def counting(name: str) -> Any:
        real = getattr(render, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        return wrapper

    for name in ("spec_to_dict", "notebook_metadata"):
        wrapper = counting(name)
        monkeypatch.setattr(render, name, wrapper)
        monkeypatch.setattr(spec_pkg, name, wrapper)
    result = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert result.findings_updated
    assert calls == {"spec_to_dict": 1, "notebook_metadata": 1}


def test_the_tiers_target_is_resolved_once_per_run(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation resolves the target string into one typed value that the collision check, the
    warnings, the run's tags and the writer all use: the string is read as a path once."""
    from alignment_mlflow.tables import targets

    calls: list[str] = []
    real = targets._local_path

    def counting(target: str) -> Any:
        calls.append(target)
        return real(target)

    monkeypatch.setattr(targets, "_local_path", counting)
    result = align(env["findings"], TEMPLATE_SPEC, **env["kwargs"])
    assert result.tiers_table == str(env["table"].resolve())
    assert calls == [env["kwargs"]["tiers_table"]]


@pytest.mark.parametrize("how", ["renamed", "replaced"])
def test_findings_renamed_or_replaced_mid_run_are_never_written(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """What "found before" means for a file changed mid-run (issue 23): the findings are read
    once, judged, and written back by compare-and-swap against the bytes judged. A file moved
    away after reading, or another findings file moved into its place, is found at write-back:
    FindingsError (exit 2), the run FAILED, no byte written to any findings file. Their own
    metadata keys written meanwhile are still merged (test_findings)."""
    from alignment_mlflow.errors import FindingsError
    from alignment_mlflow.tiers import writer

    path: Path = env["findings"]
    folder = path.parent
    moved = folder / "moved.yaml"
    other = FINDINGS_FIXTURES / TELCO
    real = writer.write_tiers

    def then_rename(*args: Any, **kwargs: Any) -> Any:
        written = real(*args, **kwargs)
        path.rename(moved)
        if how == "replaced":
            shutil.copy2(other, path)
        return written

    before = path.read_bytes()
    monkeypatch.setattr(writer, "write_tiers", then_rename)
    with pytest.raises(FindingsError, match="while the run ran") as exc:
        align(path, TEMPLATE_SPEC, **env["kwargs"])
    assert exc.value.exit_code == 2
    assert "nothing was written to it" in str(exc.value)
    [failed] = runs(env["uri"])
    assert failed.info.status == "FAILED"
    assert moved.read_bytes() == before
    if how == "replaced":
        assert path.read_bytes() == other.read_bytes()
    else:
        assert not path.exists()
    left = [p.name for p in folder.iterdir() if not p.name.endswith(".lock")]  # the CAS's lock
    assert sorted(left) == sorted(["moved.yaml", *([CLEAN] if how == "replaced" else [])])
