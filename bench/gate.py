"""How many requests and how much time one success-metric gate costs, against a real local
`mlflow server` (a counting proxy in front of it), first gate and rerun.

    python bench/gate.py [--runs 5]

Prints one table. The model is the tests' tiny scikit-learn model, trained and registered once;
each gate then runs as a whole process (`python -m alignment_mlflow gate ...`) for the wall time
(median of --runs) and in-process for the request count. The first gate of each round goes to a
fresh version of the same run (the request count is taken on a first gate, which writes
everything); the rerun finds everything recorded and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))

from _gate_model import train_and_register  # noqa: E402
from _mlflow_server import CountingProxy, ServerProcess  # noqa: E402

SPEC = REPO / "examples" / "churn_alignment.yaml"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def gate_cmd(uri: str, version: str) -> list[str]:
    return [
        sys.executable, "-m", "alignment_mlflow", "gate", "--spec", str(SPEC),
        "--model-version", version, "--tracking-uri", uri, "--promote-alias", "champion", "--json",
    ]  # fmt: skip


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}  # this checkout, not an installed one
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"gate failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from mlflow import MlflowClient

    from alignment_mlflow.gating.api import gate

    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        root = Path(tmp)
        server = ServerProcess(root).start()
        try:
            with CountingProxy(server.uri) as proxy:
                model = train_and_register(proxy.uri, name="bench_gate")
                client = MlflowClient(server.uri, server.uri)

                def fresh_version() -> str:
                    mv = client.create_model_version(
                        model.name,
                        f"models:/{model.model_id}",
                        model.run_id,
                        model_id=model.model_id,
                    )
                    return f"models:/{model.name}/{mv.version}"

                version = fresh_version()
                proxy.requests.clear()
                gate(SPEC, model_version=version, tracking_uri=proxy.uri, promote_alias="champion")
                first = list(proxy.requests)
                proxy.requests.clear()
                gate(SPEC, model_version=version, tracking_uri=proxy.uri, promote_alias="champion")
                rerun = list(proxy.requests)

                cold, warm = [], []
                for _ in range(args.runs):
                    v = fresh_version()
                    cold.append(timed(gate_cmd(proxy.uri, v), root))
                    warm.append(timed(gate_cmd(proxy.uri, v), root))
                floor = [
                    timed([sys.executable, "-c", "import mlflow, alignment_mlflow"], root)
                    for _ in range(args.runs)
                ]
        finally:
            server.stop()

    rows = [
        ("HTTP requests, one gate (new version)", str(len(first)), _kinds(first)),
        ("HTTP requests, rerun (already recorded)", str(len(rerun)), _kinds(rerun)),
        ("wall time, one gate (whole process)", f"{statistics.median(cold):.2f} s", "median"),
        ("wall time, rerun (whole process)", f"{statistics.median(warm):.2f} s", "median"),
        ("floor: python -c 'import mlflow'", f"{statistics.median(floor):.2f} s", "median"),
    ]
    print(f"{'measure':<42}  {'value':>8}  note")
    print(f"{'-' * 42}  {'-' * 8}  {'-' * 30}")
    for name, value, note in rows:
        print(f"{name:<42}  {value:>8}  {note}")
    print("\nrequests of one gate:")
    for method, path in first:
        print(f"  {method:<6} {path}")


def _kinds(requests: list[tuple[str, str]]) -> str:
    writes = sum(1 for m, _ in requests if m in WRITES)
    return f"{len(requests) - writes} reads, {writes} writes"


if __name__ == "__main__":
    main()
