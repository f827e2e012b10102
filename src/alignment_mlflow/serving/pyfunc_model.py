"""The served model, logged as code (MLflow models-from-code: no pickled closure). MLflow runs
this file when it loads the model; it reads two artifacts: ``inner`` (a copy of the inner model
version, so serving needs no registry access and the version can never change under it) and
``tiers`` (the band table compiled from the spec, :func:`alignment_mlflow.serving.core.
table_config`). Each row gets ``score, tier, intervention, cost, currency, spec_sha256``; a score
no band holds (NaN, null, outside [0, 1]) gets no tier, no intervention and a NaN cost."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd

from alignment_mlflow.bands.arrays import tier_index
from alignment_mlflow.serving.core import OUTPUT_COLUMNS, table_from_config
from alignment_mlflow.serving.inner import scorer


class TieredModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """The inner model's score and the tier the alignment agreed for it."""

    # MLflow 2.20+ wraps ``predict`` for type-hint validation (and warns at every load when there
    # are none); the signature is explicit, so the wrapper layer is skipped.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        config = json.loads(Path(context.artifacts["tiers"]).read_text(encoding="utf-8"))
        self.table, self.spec_sha256, score = table_from_config(config)
        self.score = scorer(context.artifacts["inner"], score)
        # Per band, then "no band" last (index -1 picks it): looked up with take, so the
        # strings are typed once here, not inferred per request (pandas 3 infers its string
        # dtype on every frame built from object arrays: ~3x the cost of this frame).
        bands = self.table.bands
        self.tiers = _lookup([*(b.tier for b in bands), None])
        self.actions = _lookup([*(b.intervention for b in bands), None])
        self.costs = np.array([*(b.cost for b in bands), np.nan], dtype=np.float64)
        self.currency = _lookup([self.table.currency])
        self.sha = _lookup([self.spec_sha256])
        self.columns = pd.Index([name for name, _ in OUTPUT_COLUMNS])
        self.none = len(bands)
        _freeze_the_loaded_heap()

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        scores = self.score(model_input)
        idx = tier_index(self.table, scores)
        pos = np.where(idx < 0, self.none, idx)
        one = np.zeros(len(scores), dtype=np.intp)
        arrays = [
            scores,
            self.tiers.take(pos),
            self.actions.take(pos),
            self.costs[pos],
            self.currency.take(one),
            self.sha.take(one),
        ]
        return _frame(arrays, self.columns)


def _lookup(values: list[str | None]) -> Any:
    """The strings as pandas types them, kept in Python objects: pandas 3's string dtype on
    Arrow storage takes 37 us per ``take`` of one row (a pyarrow compute call), the same dtype
    on Python storage 1.6 us; four takes a request were a third of what the wrapper adds."""
    found = pd.Series(values).array
    dtype = found.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return found.astype(pd.StringDtype("python", na_value=dtype.na_value))
    return found


FREEZE_ENV = "ALIGNMENT_MLFLOW_SERVING_GC_FREEZE"


def _freeze_the_loaded_heap() -> None:
    """The p99 of a served request is set by the cyclic GC, not by the request: MLflow's schema
    enforcement allocates thousands of containers per call at 300 features, so every few dozen
    calls a full collection walks the ~250k objects that loading MLflow, pandas and scikit-learn
    left (one in ~28 calls at 300 features in bench/serving.py; ~200 ms each). What is alive
    once the model is loaded lives as long as the server: ``gc.freeze`` moves it out of every
    later collection (after collecting what is already garbage, so that nothing is kept).
    Reference counting still frees frozen objects; ``ALIGNMENT_MLFLOW_SERVING_GC_FREEZE=0``
    keeps the process's collector as it was."""
    if os.environ.get(FREEZE_ENV, "1").strip().lower() in {"0", "false", "no", "off"}:
        return
    gc.collect()
    gc.freeze()


def _frame(arrays: list[Any], columns: Any) -> Any:
    """A frame of typed arrays without re-checking them (they are built above); the public
    constructor when pandas lacks the internal one."""
    build = getattr(pd.DataFrame, "_from_arrays", None)
    index = pd.RangeIndex(len(arrays[0]))
    if build is not None:
        try:
            return build(arrays, columns=columns, index=index, verify_integrity=False)
        except TypeError:  # another signature in another pandas: the public way
            pass
    return pd.DataFrame(dict(zip(columns, arrays, strict=True)), index=index, copy=False)


mlflow.models.set_model(TieredModel())
