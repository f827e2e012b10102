"""Findings on Databricks: volumes that cannot rename, DBFS on serverless, and auth failures.

Rename failures are injected at the OS boundary (``os.replace`` raising as the volumes FUSE mount
does); the Files API path runs against the local workspace; the auth and connection failures run
the CLI as a subprocess, the way a job does.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from _databricks_fake import FakeWorkspace
from alignment_mlflow.errors import DatabricksConfigError, FindingsError
from alignment_mlflow.findings.io import (
    FindingsLocation,
    locate_findings,
    read_findings,
    update_findings_metadata,
)
from alignment_mlflow.findings.storage import LocalStore, store_for
from alignment_mlflow.findings.storage import local as local_store
from conftest import ALL_FINDINGS, TEMPLATE_SPEC
from test_e2e_cli import cli

UPDATES = {"business_context": {"project_name": "Volumes"}}
NAME = "subscription_clean_408768_findings.yaml"


def _no_rename(code: int) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, "Function not implemented" if code == errno.ENOSYS else "refused")

    return refuse


# --------------------------------------------------------------------------- rename refused


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EPERM, errno.EXDEV])
def test_a_mount_that_cannot_rename_still_gets_the_findings_written(
    findings_copy: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    path = findings_copy / NAME
    original = path.read_bytes()
    loc = locate_findings(str(path))
    monkeypatch.setattr(local_store.os, "replace", _no_rename(code))
    monkeypatch.setattr(local_store.os, "link", _no_rename(code))
    result = update_findings_metadata(loc, read_findings(loc), UPDATES)
    assert result.changed
    meta = yaml.safe_load(path.read_text())["metadata"]
    assert meta["business_context"] == {"project_name": "Volumes"}
    assert path.with_name(NAME + ".bak").read_bytes() == original  # copied, not linked
    assert not [p for p in findings_copy.iterdir() if p.name.endswith(".tmp")]


def test_a_rename_refused_for_another_reason_is_not_papered_over(
    findings_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignment_mlflow.errors import StorageError

    path = findings_copy / NAME
    original = path.read_bytes()
    loc = locate_findings(str(path))
    monkeypatch.setattr(local_store.os, "replace", _no_rename(errno.EIO))
    with pytest.raises(StorageError):
        update_findings_metadata(loc, read_findings(loc), UPDATES)
    assert path.read_bytes() == original


# --------------------------------------------------------------------------- volumes on a cluster


def _volume(ws: FakeWorkspace) -> str:
    folder = ws.local("/Volumes/main/churn/findings")
    folder.mkdir(parents=True)
    for p in ALL_FINDINGS:
        (folder / p.name).write_bytes(p.read_bytes())
    return "/Volumes/main/churn/findings"


def _on_cluster(ws: FakeWorkspace, monkeypatch: pytest.MonkeyPatch, runtime: str) -> str:
    """A cluster of ``runtime`` holding the workspace's credentials; the volume folder it sees."""
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", runtime)
    for k, v in ws.env().items():
        monkeypatch.setenv(k, v)
    return _volume(ws)


def _mount_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FindingsLocation, Path]:
    """A cluster without credentials: the volume is reachable only through its FUSE mount (a tmp
    folder stands in for it). The findings' location and their file on the mount."""
    from alignment_mlflow.findings.storage.databricks import ClusterVolumeStore

    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    mount = tmp_path / "mount"
    (mount / "Volumes/main/churn").mkdir(parents=True)
    path = f"/Volumes/main/churn/{NAME}"
    (mount / path.lstrip("/")).write_bytes(ALL_FINDINGS[-1].read_bytes())
    return FindingsLocation(ClusterVolumeStore(mount=str(mount)), path), mount / path.lstrip("/")


@pytest.mark.parametrize("runtime", ["15.4", "client.1.13"])
def test_on_a_cluster_volumes_are_written_through_the_files_api(
    databricks_workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch, runtime: str
) -> None:
    from alignment_mlflow.findings.storage.databricks import ClusterVolumeStore

    ws = databricks_workspace
    folder = _on_cluster(ws, monkeypatch, runtime)
    store, path = store_for(f"{folder}/{NAME}")
    assert isinstance(store, ClusterVolumeStore)
    # the workspace's storage stands in for the /Volumes FUSE mount of a cluster
    store = ClusterVolumeStore(mount=str(ws.root))
    monkeypatch.setattr(local_store.os, "replace", _no_rename(errno.ENOSYS))
    original = ws.local(path).read_bytes()
    loc = FindingsLocation(store, path)
    assert update_findings_metadata(loc, read_findings(loc), UPDATES).changed
    written = yaml.safe_load(ws.local(path).read_text())["metadata"]
    assert written["business_context"] == {"project_name": "Volumes"}
    assert ws.local(path + ".bak").read_bytes() == original
    puts = [p for m, p in ws.requests if m == "PUT"]
    assert puts == [f"/api/2.0/fs/files{path}.bak", f"/api/2.0/fs/files{path}"]


def test_on_a_cluster_without_credentials_volumes_are_written_through_the_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loc, on_mount = _mount_only(tmp_path, monkeypatch)
    monkeypatch.setattr(local_store.os, "replace", _no_rename(errno.ENOSYS))
    assert update_findings_metadata(loc, read_findings(loc), UPDATES).changed
    meta = yaml.safe_load(on_mount.read_text())["metadata"]
    assert meta["business_context"] == {"project_name": "Volumes"}


def _no_mkstemp(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.EACCES, "Permission denied")


def test_no_probe_through_the_mount_when_the_files_api_writes(
    databricks_workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-write check must not create files over the mount the write never touches: a
    mount refusing temporary files does not stop a write that goes through the Files API."""
    from alignment_mlflow.findings.io import check_writable
    from alignment_mlflow.findings.storage.databricks import ClusterVolumeStore

    ws = databricks_workspace
    path = f"{_on_cluster(ws, monkeypatch, '17.3')}/{NAME}"
    monkeypatch.setattr(local_store.tempfile, "mkstemp", _no_mkstemp)
    loc = FindingsLocation(ClusterVolumeStore(mount=str(ws.root)), path)
    check_writable(loc)
    assert update_findings_metadata(loc, read_findings(loc), UPDATES).changed
    assert [p for m, p in ws.requests if m == "PUT"][-1] == f"/api/2.0/fs/files{path}"


def test_without_credentials_the_probe_looks_at_the_file_on_the_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignment_mlflow.findings.io import check_writable

    loc, _ = _mount_only(tmp_path, monkeypatch)
    check_writable(loc)  # the file on the mount is writable
    monkeypatch.setattr(local_store.tempfile, "mkstemp", _no_mkstemp)
    with pytest.raises(FindingsError, match="cannot be written back"):
        check_writable(loc)


# --------------------------------------------------------------------------- DBFS on serverless


@pytest.mark.parametrize("location", ["dbfs:/churn/findings", "/dbfs/churn/findings"])
def test_dbfs_on_serverless_says_to_use_a_volume(
    monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "client.1.13")
    with pytest.raises(DatabricksConfigError, match=r"serverless.*client\.1\.13.*/Volumes/"):
        store_for(location)
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")  # classic: the FUSE mount
    assert isinstance(store_for(location)[0], LocalStore)


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert "unexpected" not in stderr
    return lines[0]


@pytest.mark.slow
def test_cli_on_serverless_refuses_paths_before_reading_anything(tmp_path: Path) -> None:
    """On Databricks a tiers path is refused first (delta-rs cannot commit through /Volumes), in
    one line naming the table form; the dbfs: findings refusal is tested in-process above."""
    proc = cli(
        "run",
        "--findings",
        "dbfs:/churn/findings",
        "--spec",
        str(TEMPLATE_SPEC),
        "--tiers-table",
        "/Volumes/main/churn/tables/tiers",
        cwd=tmp_path,
        env={"DATABRICKS_RUNTIME_VERSION": "client.1.13"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "--tiers-table catalog.schema.table" in _error_line(proc.stderr)


# --------------------------------------------------------------------------- auth and hangs


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connections are refused


def _run(tmp_path: Path, *extra: str, env: dict[str, str]) -> Any:
    return cli(
        "run",
        "--findings",
        "/Volumes/main/churn/findings",
        "--spec",
        str(TEMPLATE_SPEC),
        "--tiers-table",
        str(tmp_path / "tiers"),
        *extra,
        cwd=tmp_path,
        env=env,
    )


@pytest.mark.slow
def test_cli_auth_and_connection_failures(
    databricks_workspace: FakeWorkspace, tmp_path: Path
) -> None:
    ws = databricks_workspace
    _volume(ws)
    cfg = tmp_path / "databrickscfg"
    cfg.write_text(f"[DEFAULT]\nhost = {ws.host}\ntoken = dapi-test-token\n")
    closed = f"http://127.0.0.1:{_closed_port()}"

    # no credentials anywhere: configuration, exit 2, says what to set
    proc = _run(tmp_path, env={})
    assert proc.returncode == 2, proc.stderr
    line = _error_line(proc.stderr)
    assert "DATABRICKS_HOST" in line
    assert "DATABRICKS_TOKEN" in line
    assert "profile DEFAULT" in line

    # a profile that is not in the config file
    proc = _run(tmp_path, "--profile", "prod", env={"DATABRICKS_CONFIG_FILE": str(cfg)})
    assert proc.returncode == 2, proc.stderr
    line = _error_line(proc.stderr)
    assert "profile prod" in line
    assert "'prod'" in line
    assert str(cfg) in line

    # a token the host refuses
    proc = _run(tmp_path, env=ws.env(token="wrong"))
    assert proc.returncode == 2, proc.stderr
    line = _error_line(proc.stderr)
    assert ws.host in line
    assert "DATABRICKS_TOKEN" in line

    # nothing listening: a system failure within the bound, naming the host
    proc = _run(
        tmp_path,
        env={**ws.env(), "DATABRICKS_HOST": closed, "ALIGNMENT_DATABRICKS_TIMEOUT": "2"},
    )
    assert proc.returncode == 1, proc.stderr
    line = _error_line(proc.stderr)
    assert closed in line
    assert "did not answer within 2 s" in line

    # the right profile works (read through the Files API, dry run writes nothing)
    proc = _run(tmp_path, "--dry-run", env={"DATABRICKS_CONFIG_FILE": str(cfg)})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_cli_databricks_tracking_failures(
    databricks_workspace: FakeWorkspace, findings_copy: Path, tmp_path: Path
) -> None:
    def run(*extra: str, env: dict[str, str]) -> Any:
        return cli(
            "run",
            "--findings",
            str(findings_copy / NAME),
            "--spec",
            str(TEMPLATE_SPEC),
            "--tiers-table",
            str(tmp_path / "tiers"),
            *extra,
            cwd=tmp_path,
            env=env,
        )

    proc = run("--tracking-uri", "databricks", env={})
    assert proc.returncode == 2, proc.stderr
    assert "DATABRICKS_HOST" in _error_line(proc.stderr)

    proc = run("--tracking-uri", "databricks://nope", env={})
    assert proc.returncode == 2, proc.stderr
    assert "profile nope" in _error_line(proc.stderr)

    proc = run(
        "--tracking-uri",
        "databricks",
        env={**databricks_workspace.env(token="wrong")},
    )
    assert proc.returncode == 2, proc.stderr
    assert databricks_workspace.host in _error_line(proc.stderr)

    closed = f"http://127.0.0.1:{_closed_port()}"
    proc = run(
        "--tracking-uri",
        "databricks",
        env={
            "DATABRICKS_HOST": closed,
            "DATABRICKS_TOKEN": "x",
            "ALIGNMENT_DATABRICKS_TIMEOUT": "2",
        },
    )
    assert proc.returncode == 1, proc.stderr
    assert closed in _error_line(proc.stderr)
    # nothing was written: the findings are untouched
    assert "alignment" not in (yaml.safe_load((findings_copy / NAME).read_text())["metadata"])


def test_missing_credentials_through_the_api_are_a_config_error() -> None:
    with pytest.raises(DatabricksConfigError, match="DATABRICKS_HOST"):
        locate_findings("dbfs:/churn")
    assert not issubclass(DatabricksConfigError, FindingsError)
