"""Faults injected at real boundaries: nothing is lost, and a rerun completes the job."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from _mlflow_server import CountingProxy, ServerProcess
from alignment_mlflow.findings.document import FRAMEWORK_KEYS
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

pytestmark = pytest.mark.slow
CLEAN = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"
FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alignment_mlflow", "run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def popen(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "alignment_mlflow", "run", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def findings_copy(tmp: Path, name: str = "findings") -> Path:
    folder = tmp / name
    folder.mkdir()
    shutil.copy2(CLEAN, folder / CLEAN.name)
    return folder / CLEAN.name


def runs(server: str, experiment: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"{server}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}", timeout=30
    ) as resp:
        exp_id = json.loads(resp.read())["experiment"]["experiment_id"]
    req = urllib.request.Request(
        f"{server}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [exp_id], "max_results": 100}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        found: list[dict[str, Any]] = json.loads(resp.read()).get("runs", [])
        return found


def test_server_killed_before_the_run(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server")
    (tmp_path / "server").mkdir()
    server.start().stop(signal.SIGKILL)
    findings = findings_copy(tmp_path)
    table = tmp_path / "tiers"
    args = ["--findings", str(findings), "--spec", str(TEMPLATE_SPEC), "--tracking-uri", server.uri,
            "--tiers-table", str(table), "--experiment", "/Shared/faults/before"]  # fmt: skip
    failed = cli(tmp_path, *args)  # MLflow's own retry settings: the connect check answers first
    assert failed.returncode == 1
    assert f"MLflow tracking at {server.uri} cannot be reached" in failed.stderr
    assert findings.read_bytes() == CLEAN.read_bytes()
    assert not table.exists()
    server.start()
    try:
        done = cli(tmp_path, *args)
        assert done.returncode == 0, done.stderr
        assert [r["info"]["status"] for r in runs(server.uri, "/Shared/faults/before")] == [
            "FINISHED"
        ]
    finally:
        server.stop()


def test_server_killed_during_artifact_upload(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    server = ServerProcess(tmp_path / "server").start()
    findings = findings_copy(tmp_path)
    table = tmp_path / "tiers"
    try:
        with CountingProxy(server.uri) as proxy:

            def kill_on_upload(method: str, path: str) -> None:
                if method == "PUT" and "mlflow-artifacts" in path:
                    server.stop(signal.SIGKILL)

            proxy.before = kill_on_upload
            args = ["--findings", str(findings), "--spec", str(TEMPLATE_SPEC), "--tracking-uri",
                    proxy.uri, "--tiers-table", str(table), "--experiment", "/Shared/faults/upload"]  # fmt: skip
            failed = cli(tmp_path, *args, env=FAST_FAIL)
            assert failed.returncode == 1, failed.stderr
            assert "uploading artifacts" in failed.stderr
            assert findings.read_bytes() == CLEAN.read_bytes()
            assert not table.exists()

            proxy.before = None
            server.start()
            assert [r["info"]["status"] for r in runs(server.uri, "/Shared/faults/upload")] == [
                "RUNNING"
            ]
            done = cli(tmp_path, *args)
            assert done.returncode == 0, done.stderr
        statuses = sorted(r["info"]["status"] for r in runs(server.uri, "/Shared/faults/upload"))
        assert statuses == ["FAILED", "FINISHED"]  # the orphan was closed by the rerun
        meta = yaml.safe_load(findings.read_text())["metadata"]["alignment"]
        assert meta["delta"]["version"] == 1
    finally:
        server.stop()


def test_a_corrupt_delta_log_is_found_before_anything_is_written(tmp_path: Path) -> None:
    """The table is read while validating (is the project's slug someone else's?), so a broken
    table stops the job before the MLflow run; a failure at commit time itself is injected in
    tests/test_pipeline.py and marks the run FAILED."""
    findings = findings_copy(tmp_path)
    table = tmp_path / "tiers"
    (table / "_delta_log").mkdir(parents=True)
    (table / "_delta_log" / "00000000000000000000.json").write_text("{corrupt")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["--findings", str(findings), "--spec", str(TEMPLATE_SPEC), "--tracking-uri", uri,
            "--tiers-table", str(table)]  # fmt: skip
    failed = cli(tmp_path, *args)
    assert failed.returncode == 1
    assert f"reading tiers table {table}" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert findings.read_bytes() == CLEAN.read_bytes()
    assert not (tmp_path / "mlflow.db").exists()

    shutil.rmtree(table)
    done = cli(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("/Shared/alignment/customer_churn_prediction")
    assert [r.info.status for r in client.search_runs([exp.experiment_id])] == ["FINISHED"]


WRITER = """
import sys
from alignment_mlflow.findings.io import locate_findings, read_findings, update_findings_metadata
loc = locate_findings(sys.argv[1])
i = 0
while True:
    update_findings_metadata(loc, read_findings(loc), {"flip": {"i": i, "pad": "x" * (i % 7) * 500}})
    i += 1
"""


def test_sigkill_while_writing_findings_never_tears_the_file(tmp_path: Path) -> None:
    findings = findings_copy(tmp_path)
    original = yaml.safe_load(CLEAN.read_text())
    rng = random.Random(7)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(findings)])
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        data = yaml.safe_load(findings.read_text())  # parses: never torn
        assert set(data) <= set(FRAMEWORK_KEYS)  # the framework's loader accepts its keys
        assert {k: v for k, v in data.items() if k != "metadata"} == {
            k: v for k, v in original.items() if k != "metadata"
        }
        flip = data["metadata"].get("flip")
        assert flip is None or flip["pad"] == "x" * (flip["i"] % 7) * 500  # a whole version


@pytest.mark.mlflow_server
@pytest.mark.parametrize(
    "projects", [("Same",) * 2, ("Alpha", "Beta")], ids=["same-project", "two-projects"]
)
def test_two_runs_at_once(tmp_path: Path, mlflow_server: str, projects: tuple[str, str]) -> None:
    findings = findings_copy(tmp_path)
    table = tmp_path / "tiers"
    experiment = f"/Shared/faults/concurrent-{'-'.join(projects)}-{tmp_path.name}"
    procs = []
    for i, project in enumerate(projects):
        spec = tmp_path / f"spec{i}.yaml"
        spec.write_text(TEMPLATE_SPEC.read_text().replace("Customer Churn Prediction", project))
        procs.append(popen(tmp_path, "--findings", str(findings), "--spec", str(spec), "--tracking-uri",
                           mlflow_server, "--tiers-table", str(table), "--experiment", experiment, "--json"))  # fmt: skip
    results = [(p.wait(300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = [code for code, _ in results]
    assert codes.count(0) >= 1, results
    assert all(code in (0, 1) for code in codes), results
    for code, err in results:
        if code:
            assert "Traceback" not in err
    from deltalake import DeltaTable

    rows = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
    keys = [(r["project"], r["tier"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert {p.lower() for p, _ in keys} == {
        p.lower() for p, code in zip(projects, codes, strict=True) if code == 0
    }
    meta = yaml.safe_load(findings.read_text())["metadata"]
    assert {"business_context", "success_metrics", "deployment_requirements", "alignment"} <= set(
        meta
    )
    assert meta["original_target_column"] == "churned"  # the framework's own key survived
    assert "RUNNING" not in {r["info"]["status"] for r in runs(mlflow_server, experiment)}


def test_sigterm_during_the_run_closes_it_as_killed(tmp_path: Path, mlflow_server: str) -> None:
    """A job cancel sends SIGTERM: the run must not stay RUNNING, the findings stay untouched."""
    import threading

    findings = findings_copy(tmp_path)
    table = tmp_path / "tiers"
    experiment = "/Shared/faults/sigterm"
    with CountingProxy(mlflow_server) as proxy:
        proc: subprocess.Popen[str] | None = None
        release = threading.Event()

        def terminate_on_upload(method: str, path: str) -> None:
            if method == "PUT" and "mlflow-artifacts" in path and not release.is_set():
                release.set()
                assert proc is not None
                proc.send_signal(signal.SIGTERM)
                time.sleep(1)  # hold the upload while the signal lands

        proxy.before = terminate_on_upload
        proc = popen(tmp_path, "--findings", str(findings), "--spec", str(TEMPLATE_SPEC),
                     "--tracking-uri", proxy.uri, "--tiers-table", str(table),
                     "--experiment", experiment)  # fmt: skip
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert "SIGTERM" in err
    assert [r["info"]["status"] for r in runs(mlflow_server, experiment)] == ["KILLED"]
    assert findings.read_bytes() == CLEAN.read_bytes()
    assert not table.exists()


@pytest.mark.parametrize("what", ["file", "folder"])
def test_findings_that_cannot_be_written_stop_the_job_before_any_write(
    tmp_path: Path, what: str
) -> None:
    """An immutable file or folder (chattr +i binds root too, as tests run as root): the run
    must not log to MLflow or commit to Delta when the findings write-back cannot happen."""
    findings = findings_copy(tmp_path)
    locked = findings if what == "file" else findings.parent
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root on ext4/xfs)")
    try:
        table = tmp_path / "tiers"
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        for extra in ([], ["--dry-run"]):
            failed = cli(tmp_path, "--findings", str(findings), "--spec", str(TEMPLATE_SPEC),
                         "--tracking-uri", uri, "--tiers-table", str(table), *extra)  # fmt: skip
            assert failed.returncode == 2, failed.stderr
            assert "cannot be written back" in failed.stderr
        assert not table.exists()
        assert not (tmp_path / "mlflow.db").exists()
        assert findings.read_bytes() == CLEAN.read_bytes()
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)


# ------------------------------------------------------------------ issue 23: the JSON contract


class HangingServer:
    """Accepts connections and never answers: the reachability check passes, the first MLflow
    call waits. ``requested`` is set once a request arrived (the command is inside its body)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.uri = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requested = threading.Event()
        self.conns: list[Any] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: Any) -> None:
        try:
            if conn.recv(1024):
                self.requested.set()
        except OSError:
            pass

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize(
    ("command", "sig", "code", "kind"),
    [
        ("run", signal.SIGTERM, 143, "Terminated"),
        ("run", signal.SIGINT, 130, "Interrupted"),
        ("gate", signal.SIGTERM, 143, "Terminated"),
        ("plan", signal.SIGINT, 130, "Interrupted"),
    ],
)
def test_a_signal_ends_in_one_json_object(
    tmp_path: Path, command: str, sig: int, code: int, kind: str
) -> None:
    """Ctrl-C and SIGTERM while the command waits on MLflow: one JSON object, its exit code."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    server = HangingServer()
    scores = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"customer_id": [1, 2], "churn_score": [0.1, 0.9]}), scores)
    args = {
        "run": [str(findings_copy(tmp_path)), "--spec", str(TEMPLATE_SPEC),
                "--tiers-table", str(tmp_path / "tiers")],
        "gate": ["--spec", str(TEMPLATE_SPEC), "--model-run", "0" * 32],
        "plan": ["--scores", str(scores), "--spec", str(TEMPLATE_SPEC)],
    }[command]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "alignment_mlflow", command, *args, "--json",
         "--tracking-uri", server.uri],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.requested.wait(120), "the command never called MLflow"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()
    assert proc.returncode == code, err
    obj = json.loads(out)
    assert list(obj) == ["error", "error_type", "exit_code"]
    assert (obj["error_type"], obj["exit_code"]) == (kind, code)
    assert "Traceback" not in err
    assert not (tmp_path / "tiers").exists()


@pytest.mark.parametrize("as_json", [False, True])
def test_a_reader_that_leaves_ends_the_command_quietly(tmp_path: Path, as_json: bool) -> None:
    """``check ... | head -1``: stdout closed before the command prints; no traceback, no
    BrokenPipeError on stderr, the command's own exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "alignment_mlflow", "check", str(CLEAN), "--spec",
         str(TEMPLATE_SPEC), *(["--json"] if as_json else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first line
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    for word in ("Traceback", "BrokenPipe", "unexpected", "Exception ignored"):
        assert word not in err, err


def test_head_of_a_pipeline_ends_quietly(tmp_path: Path) -> None:
    """The issue's spelling: ``alignment-mlflow check ... | head -1``."""
    cmd = (
        f"'{sys.executable}' -m alignment_mlflow check '{CLEAN}' --spec '{TEMPLATE_SPEC}' | head -1"
    )
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("status:"), out
    for word in ("Traceback", "BrokenPipe", "unexpected", "Exception ignored"):
        assert word not in out.stderr, out.stderr


HOLD_LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes stdin
con.execute("ROLLBACK")
"""


def test_a_store_locked_by_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: another process holds a write transaction on mlflow.db. The command waits
    within a bound (``LOCK_WAIT_SECONDS``, shortened here), then one message naming the store,
    exit 1, nothing written (no tiers, findings untouched, no MLflow tables)."""
    from click.testing import CliRunner

    from alignment_mlflow.cli import cli
    from alignment_mlflow.tracking import client

    monkeypatch.setattr(client, "LOCK_WAIT_SECONDS", 2.0, raising=False)
    db = tmp_path / "mlflow.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        findings = findings_copy(tmp_path)
        started = time.monotonic()
        result = CliRunner().invoke(
            cli,
            ["run", str(findings), "--spec", str(TEMPLATE_SPEC), "--tracking-uri",
             f"sqlite:///{db}", "--tiers-table", str(tmp_path / "tiers"), "--json"],
        )  # fmt: skip
        waited = time.monotonic() - started
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert result.exit_code == 1, result.output
    assert waited < 60  # the bound (2 s here, 30 s by default) plus SQLite's busy timeouts
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"the MLflow store {db} is locked by another process" in errors[0]
    assert "unexpected" not in result.stderr
    obj = json.loads(result.stdout)
    assert (obj["error_type"], obj["exit_code"]) == ("TrackingError", 1)
    assert not (tmp_path / "tiers").exists()
    assert findings.read_bytes() == CLEAN.read_bytes()
    import sqlite3

    with sqlite3.connect(db) as con:  # MLflow created nothing in the store
        assert con.execute("select count(*) from sqlite_master").fetchone() == (0,)


@pytest.mark.mlflow_server
def test_a_persistent_500_on_the_final_update_fails_within_a_bound(
    tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23: a server that answers HTTP 500 to every run update (the final FINISHED, then
    the FAILED that records the failure) used to take 498 s through MLflow's retries. Bounded:
    the command fails within a minute, one clear message, exit 1, the run not FINISHED."""
    from click.testing import CliRunner

    from alignment_mlflow.cli import cli

    for var in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "MLFLOW_HTTP_REQUEST_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)  # MLflow's defaults, as a user has them
    experiment = f"/Shared/faults/final-500-{random.randrange(10**9)}"
    with CountingProxy(mlflow_server) as proxy:
        proxy.answer = lambda method, path: 500 if path.endswith("/runs/update") else None
        findings = findings_copy(tmp_path)
        started = time.monotonic()
        result = CliRunner().invoke(
            cli,
            ["run", str(findings), "--spec", str(TEMPLATE_SPEC), "--tracking-uri", proxy.uri,
             "--experiment", experiment, "--tiers-table", str(tmp_path / "tiers"), "--json"],
        )  # fmt: skip
        took = time.monotonic() - started
        updates = [p for m, p in proxy.requests if p.endswith("/runs/update")]
    assert result.exit_code == 1, result.output
    assert took < 60, took  # MLflow's own retries: ~250 s per call
    assert len(updates) >= 2  # it did retry, within the bound
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"MLflow tracking at {proxy.uri}" in errors[0]
    assert "finishing the run failed" in errors[0]
    assert json.loads(result.stdout)["error_type"] == "TrackingError"
    assert os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") is None  # restored after our calls
    (found,) = runs(mlflow_server, experiment)
    assert found["info"]["status"] != "FINISHED"


# --------------------------------------------------------------------------- plan, killed


def _plan_popen(tmp: Path, scores: Path, table: Path, uri: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "alignment_mlflow", "plan", "--scores", str(scores), "--spec",
         str(TEMPLATE_SPEC), "--assignments-table", str(table), "--tracking-uri", uri],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a crash shows every thread's stack
    )  # fmt: skip


def _big_scores(tmp: Path, n: int = 600_000) -> Path:
    """Enough customers that the assignments take a second or more to write: the signal lands
    while part files exist and nothing is committed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(23)
    path = tmp / "scores.parquet"
    pq.write_table(
        pa.table({"customer_id": np.arange(n, dtype=np.int64), "churn_score": rng.random(n)}),
        path,
    )
    return path


def _kill_while_writing(
    proc: subprocess.Popen[str], folder: Path, sig: int, before: frozenset[str] = frozenset()
) -> None:
    """Stop the plan (SIGSTOP) the moment its first part file appears, then send ``sig``."""
    deadline = time.monotonic() + 240

    def new_parts() -> bool:
        return folder.is_dir() and any(p.name not in before for p in folder.glob("part-*"))

    while not new_parts():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no part file was written"
        time.sleep(0.002)
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)


PARTITION = "project=customer_churn_prediction"


def test_sigterm_during_a_plans_write_kills_its_run_and_removes_its_part_files(
    tmp_path: Path,
) -> None:
    """plan handles SIGTERM as run does: exit 143, the run KILLED, no uncommitted file left."""
    from mlflow import MlflowClient

    table, uri = tmp_path / "assignments", f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = _plan_popen(tmp_path, _big_scores(tmp_path), table, uri)
    _kill_while_writing(proc, table / PARTITION, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert "SIGTERM" in err
    assert "Traceback" not in err
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("/Shared/alignment/customer_churn_prediction")
    assert [r.info.status for r in client.search_runs([exp.experiment_id])] == ["KILLED"]
    assert not (table / "_delta_log").exists()
    assert list((table / PARTITION).glob("*.parquet")) == []


def test_a_sigkilled_plan_is_closed_and_its_part_files_removed_by_the_next_plan(
    tmp_path: Path,
) -> None:
    """SIGKILL leaves the run RUNNING and part files no commit references: the next plan of the
    project closes the run by the lease rule (its process is gone) and removes only those files:
    not a committed file, not a file another project or tool keeps in the table's folder."""
    import pyarrow as pa
    from deltalake import DeltaTable
    from mlflow import MlflowClient

    import alignment_mlflow

    table, uri = tmp_path / "assignments", f"sqlite:///{tmp_path / 'mlflow.db'}"
    scores = _big_scores(tmp_path)
    small = tmp_path / "small.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(scores).slice(0, 1000), small)
    kwargs: dict[str, Any] = {"assignments_table": str(table), "tracking_uri": uri}
    first = alignment_mlflow.plan(str(small), str(TEMPLATE_SPEC), **kwargs)
    committed = {Path(u).name for u in DeltaTable(str(table)).file_uris()}
    other = tmp_path / "theirs.parquet"  # a file of another tool's in the project's folder
    pq.write_table(pa.table({"x": [1]}), other)
    shutil.copy(other, table / PARTITION / "notes.parquet")
    assert first.assignments_version == 0

    proc = _plan_popen(tmp_path, scores, table, uri)
    _kill_while_writing(proc, table / PARTITION, signal.SIGKILL, frozenset(committed))
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = {p.name for p in (table / PARTITION).glob("part-*.parquet")} - committed
    assert left, "the killed plan left no part file: the kill came too late to test anything"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("/Shared/alignment/customer_churn_prediction")
    statuses = sorted(r.info.status for r in client.search_runs([exp.experiment_id]))
    assert statuses == ["FINISHED", "RUNNING"]

    again = alignment_mlflow.plan(str(small), str(TEMPLATE_SPEC), **kwargs)
    statuses = sorted(r.info.status for r in client.search_runs([exp.experiment_id]))
    assert "RUNNING" not in statuses, statuses
    files = {p.name for p in (table / PARTITION).iterdir()}
    assert not (left & files), "the killed plan's part files are still there"
    assert committed <= files  # the first plan's files: history, kept for time travel
    assert "notes.parquet" in files
    assert (again.reused_run, again.assignments_version) == (True, 0)  # nothing rewritten
