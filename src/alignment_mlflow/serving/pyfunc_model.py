"""The served model, logged as code (MLflow models-from-code: no pickled closure). MLflow runs
this file when it loads the model; it reads two artifacts: ``inner`` (a copy of the inner model
version, so serving needs no registry access and the version can never change under it) and
``tiers`` (the band table compiled from the spec, :func:`alignment_mlflow.serving.core.
table_config`). Each row gets ``score, tier, intervention, cost, currency, spec_sha256``; a score
no band holds (NaN, null, outside [0, 1]) gets no tier, no intervention and a NaN cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd

from alignment_mlflow.bands.arrays import tier_index
from alignment_mlflow.serving.core import table_from_config
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
        # Index -1 (no band) picks the trailing "none" entry.
        bands = self.table.bands
        self.tiers = np.array([*(b.tier for b in bands), None], dtype=object)
        self.actions = np.array([*(b.intervention for b in bands), None], dtype=object)
        self.costs = np.array([*(b.cost for b in bands), np.nan], dtype=np.float64)

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        scores = self.score(model_input)
        idx = tier_index(self.table, scores)
        n = len(scores)
        return pd.DataFrame(
            {
                "score": scores,
                "tier": self.tiers[idx],
                "intervention": self.actions[idx],
                "cost": self.costs[idx],
                "currency": np.full(n, self.table.currency, dtype=object),
                "spec_sha256": np.full(n, self.spec_sha256, dtype=object),
            },
            copy=False,
        )


mlflow.models.set_model(TieredModel())
