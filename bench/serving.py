"""`python bench/serving.py`: what the tiered wrapper adds to a served request, in process.

For a 20-feature and a 300-feature scikit-learn classifier (trained on named columns, logged with
a signature), the inner model and the wrapper ``serve`` registers (built by the same code:
``serving.registry.build``) are loaded with ``mlflow.pyfunc.load_model`` and called with 1-row and
100-row pandas frames: warm-up, then ``--calls`` calls each (10,000 by default), the two
interleaved, p50 and p99 per call. Targets (issue 25): the wrapper adds at most 1 ms at p99 over
the inner model at 20 features, and stays under 2x the inner model at 300 features. Prints one
Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "examples" / "churn_alignment.yaml"


def _models(root: Path, features: int) -> tuple[Any, Any, Any]:
    import mlflow.pyfunc
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from alignment_mlflow.bands.table import band_table
    from alignment_mlflow.serving import core, registry
    from alignment_mlflow.serving.inner import inspect
    from alignment_mlflow.spec import load_spec

    rng = np.random.default_rng(features)
    x = pd.DataFrame(rng.normal(size=(2000, features)), columns=[f"f{i}" for i in range(features)])
    y = (x.iloc[:, 0] + rng.normal(size=len(x)) > 0.5).astype(int)
    est = LogisticRegression(max_iter=500).fit(x, y)
    inner_dir = root / f"inner{features}"
    mlflow.sklearn.save_model(
        est,
        str(inner_dir),
        signature=infer_signature(x.head(5), est.predict(x.head(5))),
        pip_requirements=["scikit-learn", "mlflow"],
    )
    spec = load_spec(SPEC)
    choice = core.choose_score(inspect(inner_dir, "models:/bench/1"), None)
    config = core.table_config(band_table(spec), spec.sha256, choice)
    wrapper_dir = registry.build(inner_dir, config, root / f"wrapper{features}")
    return mlflow.pyfunc.load_model(str(inner_dir)), mlflow.pyfunc.load_model(str(wrapper_dir)), x


def _time(inner: Any, wrapper: Any, frame: Any, calls: int, warmup: int) -> list[float]:
    """p50 and p99 (ms) of the inner model and of the wrapper, calls interleaved so that both
    see the same machine (a loaded machine's slow minutes would otherwise fall on one of them)."""
    for _ in range(warmup):
        inner.predict(frame)
        wrapper.predict(frame)
    samples = np.empty((2, calls))
    for i in range(calls):
        for j, model in enumerate((inner, wrapper)):
            t = time.perf_counter()
            model.predict(frame)
            samples[j, i] = time.perf_counter() - t
    return [float(np.quantile(s, q)) * 1e3 for s in samples for q in (0.5, 0.99)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--features", type=int, nargs="+", default=[20, 300])
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        for features in args.features:
            inner, wrapper, x = _models(Path(tmp), features)
            for rows in (1, 100):
                frame = x.head(rows)
                i50, i99, w50, w99 = _time(inner, wrapper, frame, args.calls, args.warmup)
                rows_out.append((features, rows, i50, i99, w50, w99))
    print(f"calls per cell: {args.calls} after {args.warmup} warm-up; times in ms per call")
    print()
    print(
        "| features | rows | inner p50 | inner p99 | wrapper p50 | wrapper p99 | added p99 "
        "| wrapper/inner p99 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for features, rows, i50, i99, w50, w99 in rows_out:
        print(
            f"| {features} | {rows} | {i50:.3f} | {i99:.3f} | {w50:.3f} | {w99:.3f} | "
            f"{w99 - i99:+.3f} | {w99 / i99:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
