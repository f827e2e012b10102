"""The inner model, read from its local copy: what it offers (:func:`inspect`) and its score as a
function of the input (:func:`scorer`). The served model calls the scikit-learn estimator, or the
pyfunc flavour's own implementation, directly: the wrapper's signature already enforced the input
schema once, and MLflow's per-column enforcement is the known cost of a pyfunc call
(mlflow/mlflow#7948), not to be paid twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from alignment_mlflow.serving.core import InnerModel, ScoreOutput

Scorer = Callable[[Any], np.ndarray]


def _mlmodel(path: Path) -> Any:
    from mlflow.models import Model

    return Model.load(str(path / "MLmodel"))


def _classes(estimator: Any) -> int | None:
    """The class count of a scikit-learn classifier with ``predict_proba``, else None."""
    from sklearn.base import is_classifier  # type: ignore[import-untyped]

    if not (is_classifier(estimator) and hasattr(estimator, "predict_proba")):
        return None
    classes = getattr(estimator, "classes_", None)
    return None if classes is None else len(classes)


def inspect(path: str | Path, ref: str) -> InnerModel:
    """Flavours, output columns (signature) and, for scikit-learn, whether it is a classifier."""
    where = Path(path)
    mlmodel = _mlmodel(where)
    flavors = tuple(sorted(mlmodel.flavors))
    classes = None
    if "sklearn" in flavors:
        import mlflow.sklearn

        classes = _classes(mlflow.sklearn.load_model(str(where)))
    outputs = None
    signature = mlmodel.signature
    if signature is not None and signature.outputs is not None:
        names = signature.outputs.input_names() if signature.outputs.has_input_names() else []
        outputs = tuple(str(n) for n in names) or ("0",)  # an unnamed tensor/column: one output
        if not signature.outputs.has_input_names() and len(signature.outputs.inputs) > 1:
            outputs = tuple(str(i) for i in range(len(signature.outputs.inputs)))
    return InnerModel(ref, flavors, classes, outputs)


def _features(estimator: Any, frame: Any) -> Any:
    """What scikit-learn was fitted on: a frame when it knows feature names, else the array
    (a frame would make it warn on every call)."""
    if hasattr(estimator, "feature_names_in_") or not hasattr(frame, "to_numpy"):
        return frame
    return frame.to_numpy()


def _one_column(out: Any, score: ScoreOutput) -> np.ndarray:
    if score.kind == "column":
        assert score.column is not None
        if hasattr(out, "columns"):
            return np.asarray(out[score.column])
        if isinstance(out, dict):
            return np.asarray(out[score.column])
        if not score.column.isdigit():
            raise ValueError(f"the inner model's output has no column names, not {score.column!r}")
        arr = np.asarray(out)
        return arr[:, int(score.column)] if arr.ndim == 2 else arr
    if hasattr(out, "columns"):
        if len(out.columns) != 1:
            raise ValueError(f"the inner model returned {len(out.columns)} columns, not one score")
        return np.asarray(out.iloc[:, 0])
    arr = np.asarray(out)
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"the inner model returned shape {arr.shape}, not one score per row")
    return arr


def scorer(path: str | Path, score: ScoreOutput) -> Scorer:
    """The score per input row, as float64 (the exact-value rule)."""
    where = str(path)
    if score.kind == "proba":
        import mlflow.sklearn

        estimator = mlflow.sklearn.load_model(where)
        proba = estimator.predict_proba

        def from_proba(frame: Any) -> np.ndarray:
            return np.asarray(proba(_features(estimator, frame))[:, 1], dtype=np.float64)

        return from_proba
    import mlflow.pyfunc

    loaded = mlflow.pyfunc.load_model(where)
    impl = getattr(loaded, "_model_impl", None)
    predict = impl.predict if impl is not None and hasattr(impl, "predict") else loaded.predict

    def from_output(frame: Any) -> np.ndarray:
        return np.asarray(_one_column(predict(frame), score), dtype=np.float64)

    return from_output
