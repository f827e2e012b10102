"""`python bench/outcomes.py`: the outcome's join on 20M assignments against plan's tally on 20M
scores (issue 26: "no more time than plan takes").

Prints one table: ``plan`` (bench/plan.py's variant: our Arrow engine's validation, tiers and
totals on N scores from Parquet), ``outcomes`` (``outcomes.api.evaluate``: N assignments read from
a Delta table written by ``plan --holdout 0.1 --campaign``'s writer, joined with N outcome rows
from Parquet, every check, the counts and the verdicts; no MLflow run, as ``plan`` is timed
without one), ``floor`` (the same columns of both read the same way, kept, and nothing else:
what no engine reading them through Arrow goes below) and ``pandas`` (the naive way: read both
with pandas, ``merge`` on the id, ``groupby`` tier and arm). Each variant runs in its own
process; time is the work inside it (imports excluded), the median of ``--repeat`` runs; "cpu s"
the CPU seconds of that work (every thread's, the median; on a shared machine the figure to
compare, as wall time waits for other processes); "peak MiB" is the process's peak RSS. Data is
generated with a fixed seed into a temp dir that is deleted afterwards.
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

import _timing

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "examples" / "churn_alignment.yaml"
VARIANTS = ("plan", "outcomes", "floor", "pandas")
STEP = 1 << 20  # pa.array of a NumPy unicode array chunks above ~4M rows


def generate(folder: Path, rows: int) -> None:
    """Scores (for plan), assignments and outcomes (Parquet) for ``rows`` customers. The
    assignments are written by plan's own writer from those scores (``plan --holdout 0.1
    --campaign bench``'s path: its batches, Parquet settings and Delta commit), so the bench reads
    the files ``outcomes`` reads in use."""
    import datetime

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import plan as plan_bench
    from alignment_mlflow.bands.table import band_table
    from alignment_mlflow.economics import arrow_engine, assignments, holdout
    from alignment_mlflow.outcomes import arms
    from alignment_mlflow.spec import load_spec

    plan_bench.generate(folder / "scores.parquet", rows)
    spec = load_spec(SPEC)
    table = band_table(spec)
    drawn = holdout.fixed("bench", arms.campaign_key(spec.project_slug, "bench"), 0.1, table)
    src = arrow_engine.open_scores(str(folder / "scores.parquet"))
    constants = {
        "project": spec.project_slug, "currency": "USD", "spec_sha256": spec.sha256,
        "plan_run_id": "0" * 32, "campaign": "bench",
        "scored_at": datetime.datetime.now(datetime.timezone.utc),
    }  # fmt: skip
    reader = arrow_engine.assignment_batches(
        src, table, id_column="customer_id", score_column="churn_score", constants=constants,
        schema=assignments.arrow_schema(pa.int64()), holdout=drawn,
    )  # fmt: skip
    assignments.write(
        str(folder / "assignments"), reader, project=spec.project_slug, commit_metadata={}
    )
    rng = np.random.default_rng(26)
    schema = pa.schema([("customer_id", pa.int64()), ("churned", pa.int8())])
    with pq.ParquetWriter(folder / "outcomes.parquet", schema) as w:
        for start in range(0, rows, STEP):
            n = min(STEP, rows - start)
            ids = rng.permutation(np.arange(start, start + n, dtype=np.int64))
            w.write_table(pa.table({"customer_id": ids,
                                    "churned": (rng.random(n) < 0.3).astype(np.int8)}))  # fmt: skip


def child(variant: str, folder: Path) -> float:
    """The seconds of work, timed from ``_timing.start()`` (after the imports)."""
    if variant == "plan":
        import plan as plan_bench
        from alignment_mlflow.bands import table  # noqa: F401 - imports are not the work
        from alignment_mlflow.economics import arrow_engine, core  # noqa: F401

        return plan_bench.child("plan", folder / "scores.parquet", folder / "unused")
    if variant == "outcomes":
        import deltalake  # imports are not the work (plan reads Parquet)

        from alignment_mlflow.outcomes import arrow_engine, arrow_join  # noqa: F401
        from alignment_mlflow.outcomes.api import evaluate
        from alignment_mlflow.spec import load_spec

        spec = load_spec(SPEC)
        start = _timing.start()
        _, _, scan = evaluate(str(folder / "assignments"), str(folder / "outcomes.parquet"), spec)
        assert scan.assignments == scan.outcomes
        return time.perf_counter() - start
    if variant == "floor":
        import deltalake  # noqa: F401

        from alignment_mlflow.outcomes import arrow_engine
        from alignment_mlflow.outcomes.counts import ASSIGNMENT_COLUMNS

        start = _timing.start()
        assigned, _ = arrow_engine.open_source(str(folder / "assignments"), "assignments")
        outcomes, _ = arrow_engine.open_source(str(folder / "outcomes.parquet"), "outcomes")
        columns = [c for c in (*ASSIGNMENT_COLUMNS, "currency") if c != "project"]
        kept = list(assigned.to_batches(columns=list(dict.fromkeys(columns)),
                                        **arrow_engine._scan_options(assigned)))  # fmt: skip
        outcomes.to_table(["customer_id", "churned"], **arrow_engine._scan_options(outcomes))
        assert sum(b.num_rows for b in kept)
        return time.perf_counter() - start
    if variant == "pandas":
        import pandas as pd

        start = _timing.start()
        columns = ["customer_id", "tier", "arm", "cost", "churn_score"]
        a = pd.read_parquet(folder / "assignments", columns=columns)
        o = pd.read_parquet(folder / "outcomes.parquet")
        m = a.merge(o, on="customer_id", how="outer", indicator=True)
        m.groupby(["tier", "arm"], observed=True).agg(
            n=("customer_id", "size"), churned=("churned", "sum"), cost=("cost", "sum")
        )
        (m["_merge"] != "both").sum()
        return time.perf_counter() - start
    raise ValueError(variant)


def measure(variant: str, folder: Path) -> tuple[float, float, float]:
    """Seconds, peak RSS (MiB) and CPU seconds of the variant's work, in a fresh process."""
    seconds, peak, _, cpu = _timing.in_child("outcomes", variant, [folder], folder / "result.json")
    return seconds, peak, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args()
    header = (
        f"{'rows':>11} {'variant':<9} {'seconds':>8} {'rows/s':>12} {'peak MiB':>9} {'vs plan':>8}"
        f" {'cpu s':>7} {'cpu vs plan':>11}"
    )
    _timing.print_header(header)
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="outcomes-bench-") as tmp:
            folder = Path(tmp)
            # In a child: a process's peak RSS is inherited by the processes it starts.
            code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); " + (
                f"import outcomes as b; b.generate(b.Path({str(folder)!r}), {rows})"
            )
            subprocess.run([sys.executable, "-c", code], env=_timing.child_env(), check=True)
            # Interleaved (plan, outcomes, pandas, plan, ...): on a shared machine the load
            # changes by the minute, and each variant should meet the same loads.
            runs: dict[str, list[tuple[float, float, float]]] = {v: [] for v in args.variants}
            for _ in range(args.repeat):
                for v in args.variants:
                    runs[v].append(measure(v, folder))
            results = {
                v: (
                    statistics.median(r[0] for r in rs),
                    max(r[1] for r in rs),
                    statistics.median(r[2] for r in rs),
                )
                for v, rs in runs.items()
            }
            for v, (sec, peak, cpu) in results.items():
                vs = sec / results["plan"][0] if "plan" in results else float("nan")
                cvs = cpu / results["plan"][2] if "plan" in results else float("nan")
                print(f"{rows:>11,} {v:<9} {sec:>8.2f} {rows / sec:>12,.0f} {peak:>9,.0f} "
                      f"{vs:>7.2f}x {cpu:>7.2f} {cvs:>10.2f}x", flush=True)  # fmt: skip
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
