"""A models-from-code pyfunc whose output is its input column: it lets a test serve any score,
NaN and out-of-range ones included, through the wrapper."""

from __future__ import annotations

import mlflow
import mlflow.pyfunc


class Identity(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    _skip_type_hint_validation = True  # as the served model: no warning, no wrapper

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        # No type hints: MLflow 3 would read them as a schema.
        return model_input


mlflow.models.set_model(Identity())
