"""Wide findings: what reading, a no-op update and a whole `run` cost against one libyaml parse.

Files of 300 / 1,000 / 5,000 columns are generated from a real fixture (tests/_wide.py). The
floor is `yaml.load(text, CSafeLoader)`: no implementation that reads the file can beat one parse.
"our read" is read_findings (bounded read, depth scan, compose, checks, view); "no-op update" is
update_findings_metadata on an aligned file with the same keys (what a rerun does); "run" and
"rerun" are whole `alignment-mlflow run` processes (sqlite store, delta-rs table).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import _timing  # noqa: E402
from _wide import write_wide_findings  # noqa: E402
from alignment_mlflow.findings.io import (  # noqa: E402
    locate_findings,
    read_findings,
    update_findings_metadata,
)

SPEC = REPO / "examples" / "churn_alignment.yaml"


def cli_run(path: Path, db: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            *(sys.executable, "-m", "alignment_mlflow", "run", "--findings", str(path)),
            *("--spec", str(SPEC), "--json", "--tracking-uri", f"sqlite:///{db}"),
        ],
        cwd=db.parent,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def measure(n: int, runs: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_wide_findings(root, n)
        text = path.read_text()
        floor = _timing.median_time(lambda: yaml.load(text, Loader=yaml.CSafeLoader), runs)
        loc = locate_findings(str(path))
        read = _timing.median_time(lambda: read_findings(loc), runs)
        first = cli_run(path, root / "mlflow.db")
        doc = read_findings(loc)
        updates = {"alignment": doc.data["metadata"]["alignment"]}
        noop = _timing.median_time(lambda: update_findings_metadata(loc, doc, updates), runs)
        rerun = cli_run(path, root / "mlflow.db")

        def cell(x: float) -> str:
            return f"{x:6.2f}s {x / floor:5.2f}x"

        return (
            f"{n:>7,}  {path.stat().st_size / 1e6:6.1f}MB  {floor:10.2f}s  {cell(read)}  "
            f"{cell(noop)}  {cell(first)}  {cell(rerun)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--columns", type=int, nargs="*", default=[300, 1000, 5000])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    header = (
        f"{'columns':>7}  {'size':>8}  {'parse floor':>11}  {'our read':>14}  "
        f"{'no-op update':>14}  {'run (first)':>14}  {'rerun':>14}"
    )
    _timing.print_header(header)
    for n in args.columns:
        print(measure(n, args.runs), flush=True)
    print(json.dumps({"python": sys.version.split()[0], "yaml": yaml.__version__}))


if __name__ == "__main__":
    main()
