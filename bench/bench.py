"""`make bench`: how many requests and how much time one alignment costs, on the demo example.

Prints one table. Times are medians of several runs of whole processes, compared with the floor
that no implementation can beat (importing mlflow and deltalake; importing click for --help).
Requests are counted by a proxy in front of a real local `mlflow server`, for our run and for a
naive baseline that logs the same content one call per value.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from _mlflow_server import CountingProxy  # noqa: E402
from _process import free_port  # noqa: E402

SPEC = REPO / "examples" / "churn_alignment.yaml"
FINDINGS = REPO / "examples" / "findings"
PY = sys.executable
HEAVY = ("mlflow", "pandas", "pyarrow", "deltalake", "pyspark")


def timed(cmd: list[str], cwd: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def demo_copy(root: Path, name: str) -> Path:
    folder = root / name / "findings"
    folder.mkdir(parents=True)
    for f in FINDINGS.glob("*_findings.yaml"):
        shutil.copy2(f, folder / f.name)
    return folder


def run_cmd(findings: Path, *extra: str) -> list[str]:
    return [
        PY,
        "-m",
        "alignment_mlflow",
        "run",
        "--findings",
        str(findings),
        "--spec",
        str(SPEC),
        *extra,
    ]


def heavy_imports(args: list[str]) -> list[str]:
    code = (
        "import sys\nfrom alignment_mlflow.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("HEAVY:"))
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root,
        env={**__import__("os").environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(400):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return proc, uri
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("mlflow server did not start")


def naive_baseline(uri: str) -> None:
    """The same content, logged the obvious way: one call per param and tag, log_table each."""
    import json

    from mlflow import MlflowClient

    from alignment_mlflow.findings.document import parse_findings
    from alignment_mlflow.spec import load_spec
    from alignment_mlflow.tracking import content as report
    from alignment_mlflow.tracking.report import report_html

    spec = load_spec(SPEC)
    path = next(FINDINGS.glob("*aggregated*_findings.yaml"))
    view = parse_findings(path.read_bytes(), str(path)).view
    ctx = report.RunContext(spec, view, str(path), "x", (), "0")
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("/Shared/bench/naive")
    exp_id = exp.experiment_id if exp else client.create_experiment("/Shared/bench/naive")
    run = client.create_run(exp_id, run_name=report.run_name(view, spec))
    rid = run.info.run_id
    for k, v in report.flatten_params(spec).items():
        client.log_param(rid, k, v)
    for k, v in report.run_tags(ctx, fingerprint="x").items():
        client.set_tag(rid, k, v)
    for k, m in report.run_metrics(ctx).items():
        client.log_metric(rid, k, m)
    for name, table in report.tables(spec, []).items():
        columns = {c: [row[i] for row in table["data"]] for i, c in enumerate(table["columns"])}
        client.log_table(rid, columns, f"alignment/{name}.json")
    client.log_text(rid, json.dumps({}), "alignment/spec.yaml")
    client.log_text(rid, report_html(ctx), "report.html")
    client.set_tag(rid, "mlflow.alignment.delta_version", "1")
    client.set_terminated(rid, "FINISHED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per timing (median)")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="alignment-bench-") as tmp:
        root = Path(tmp)

        # Requests against a real tracking server.
        proc, uri = start_server(root)
        try:
            with CountingProxy(uri) as proxy:
                first = demo_copy(root, "req")
                tiers = str(root / "req" / "tiers")
                subprocess.run(run_cmd(first, "--tracking-uri", proxy.uri, "--tiers-table", tiers),
                               check=True, capture_output=True, cwd=root)  # fmt: skip
                ours = len(proxy.requests)
                proxy.requests.clear()
                subprocess.run(run_cmd(first, "--tracking-uri", proxy.uri, "--tiers-table", tiers),
                               check=True, capture_output=True, cwd=root)  # fmt: skip
                rerun = len(proxy.requests)
                proxy.requests.clear()
                with contextlib.redirect_stdout(io.StringIO()):  # MLflow's "View run" lines
                    naive_baseline(proxy.uri)
                naive = len(proxy.requests)
        finally:
            proc.terminate()
            proc.wait(30)
        rows.append(
            (
                "HTTP requests, one alignment run (new experiment)",
                str(ours),
                f"naive baseline {naive}",
            )
        )
        rows.append(("HTTP requests, rerun (reused run)", str(rerun), "target <= 12"))

        # Wall time against the import floor.
        floor = timed([PY, "-c", "import mlflow, deltalake"], root, args.runs)
        cold = []
        for i in range(args.runs):
            folder = demo_copy(root, f"cold{i}")
            start = time.perf_counter()
            subprocess.run(run_cmd(folder), cwd=folder.parent, check=True, capture_output=True)
            cold.append(time.perf_counter() - start)
        cold_t = statistics.median(cold)
        warm_folder = root / "cold0" / "findings"
        warm_t = timed(run_cmd(warm_folder), warm_folder.parent, args.runs)
        store_code = (
            "import mlflow, deltalake\nfrom mlflow import MlflowClient\n"
            f"MlflowClient('sqlite:///{warm_folder.parent / 'mlflow.db'}')"
            ".get_experiment_by_name('x')"
        )
        store_floor = timed([PY, "-c", store_code], root, args.runs)
        rows.append(("floor: python -c 'import mlflow, deltalake'", f"{floor:.2f} s", "1.00x"))
        rows.append(
            (
                "floor + open MLflow's sqlite store, one query",
                f"{store_floor:.2f} s",
                f"{store_floor / floor:.2f}x floor",
            )
        )
        rows.append(
            (
                "alignment-mlflow run, cold (new store, table)",
                f"{cold_t:.2f} s",
                f"{cold_t / floor:.2f}x floor",
            )
        )
        rows.append(
            (
                "alignment-mlflow run, rerun no-op",
                f"{warm_t:.2f} s",
                f"{warm_t / floor:.2f}x floor (target 1.5x); "
                f"{warm_t / store_floor:.2f}x store floor",
            )
        )

        click_floor = timed([PY, "-c", "import click"], root, args.runs)
        help_t = timed([PY, "-m", "alignment_mlflow", "--help"], root, args.runs)
        rows.append(("floor: python -c 'import click'", f"{click_floor * 1000:.0f} ms", "1.00x"))
        rows.append(
            (
                "alignment-mlflow --help",
                f"{help_t * 1000:.0f} ms",
                f"{help_t / click_floor:.2f}x floor (target 1.5x)",
            )
        )
        for cmd in (["--help"], ["validate", str(SPEC)]):
            heavy = heavy_imports(cmd)
            rows.append(
                (f"heavy modules imported by {cmd[0]}", ", ".join(heavy) or "none", "must be none")
            )

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  note")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 30}")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")


if __name__ == "__main__":
    main()
