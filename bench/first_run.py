"""The first run into a new sqlite store against the second, and MLflow's part of the difference.

    python bench/first_run.py --runs 3

Each measure is a whole process, the median of ``--runs``: ``run`` into a store that does not
exist yet (MLflow creates its tables: every schema migration runs), ``run --new-run`` into the
same store again (the tables exist; a new run is logged, so the work is the same apart from the
migrations), and the same two cases for MLflow alone (``MlflowClient(...).search_experiments()``
on a new and on an existing database).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "examples" / "churn_alignment.yaml"
FINDINGS = REPO / "examples" / "findings"
OPEN_STORE = "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).search_experiments()"


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def once(folder: Path) -> dict[str, float]:
    shutil.copytree(FINDINGS, folder / "findings")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    run = [sys.executable, "-m", "alignment_mlflow", "run", "--findings", "findings",
           "--spec", str(SPEC), "--tracking-uri", store, "--tiers-table", "./tiers"]  # fmt: skip
    bare = f"sqlite:///{folder / 'bare.db'}"
    return {
        "alignment-mlflow run, new store": timed(run, folder),
        "alignment-mlflow run --new-run, same store": timed([*run, "--new-run"], folder),
        "MLflow alone: open a new store": timed([sys.executable, "-c", OPEN_STORE, bare], folder),
        "MLflow alone: open it again": timed([sys.executable, "-c", OPEN_STORE, bare], folder),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            for name, seconds in once(Path(tmp)).items():
                samples.setdefault(name, []).append(seconds)
    print(f"{'measure':<45} {'median':>8}  all")
    for name, values in samples.items():
        runs = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:<45} {statistics.median(values):>7.2f}s  {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
