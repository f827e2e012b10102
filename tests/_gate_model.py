"""A tiny real model for gate tests, the bench and the README's worked example.

A scikit-learn logistic regression on a fixed synthetic churn-like dataset, logged the way a
training notebook would (fluent MLflow API, ``log_model`` with ``registered_model_name``), with the
metrics the template spec maps: ``roc_auc``, ``precision_at_20pct``, ``latency_p99_s`` and
``demographic_parity_ratio``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainedModel:
    run_id: str
    model_id: str | None
    name: str
    version: str
    metrics: dict[str, float]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@contextlib.contextmanager
def _uris(tracking_uri: str, registry_uri: str | None) -> Iterator[None]:
    """Point the fluent API (what training code uses) at the store, then put MLflow's global
    URIs *and* the environment variables ``set_tracking_uri`` also sets back exactly as they were,
    so later tests that rely on MLflow's defaults are not redirected to this store."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri or tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved[0])  # type: ignore[arg-type]
        registry_utils._registry_uri = saved[1]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def train_and_register(
    tracking_uri: str,
    *,
    name: str = "churn_model",
    experiment: str = "/Shared/churn/training",
    latency_s: float | None = None,
    registry_uri: str | None = None,
    extra_metrics: dict[str, float] | None = None,
) -> TrainedModel:
    """Train, log metrics, log and register the model; ``latency_s`` fixes the p99 latency
    (tests), else it is measured over 200 single-row predictions (the worked example)."""
    import mlflow
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x, y = make_classification(
        n_samples=1200, n_features=8, n_informative=5, weights=[0.75], random_state=7
    )
    group = np.random.default_rng(7).integers(0, 2, size=len(y))  # a synthetic segment
    x_tr, x_te, y_tr, y_te, _, g_te = train_test_split(x, y, group, test_size=0.4, random_state=7)
    model = LogisticRegression(max_iter=500).fit(x_tr, y_tr)
    scores = model.predict_proba(x_te)[:, 1]
    top = scores >= np.quantile(scores, 0.8)  # the 20% the campaign can afford
    rates = [top[g_te == g].mean() for g in (0, 1)]
    if latency_s is None:
        samples = []
        for row in x_te[:200]:
            t = time.perf_counter()
            model.predict_proba(row.reshape(1, -1))
            samples.append(time.perf_counter() - t)
        latency_s = float(np.quantile(samples, 0.99))
    metrics = {
        "roc_auc": float(roc_auc_score(y_te, scores)),
        "precision_at_20pct": float(y_te[top].mean()),
        "latency_p99_s": latency_s,
        "demographic_parity_ratio": float(min(rates) / max(rates)),
        **(extra_metrics or {}),
    }
    with _uris(tracking_uri, registry_uri):
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            mlflow3 = int(mlflow.__version__.split(".")[0]) >= 3
            # MLflow 2.21/2.22 (the floor) name the model's folder artifact_path, and have no
            # logged models: the metrics go on the run there.
            where = {"name": "model"} if mlflow3 else {"artifact_path": "model"}
            info = mlflow.sklearn.log_model(
                model, registered_model_name=name, input_example=x_te[:2], **where
            )
            model_id = getattr(info, "model_id", None)
            for key, value in metrics.items():
                if mlflow3:
                    mlflow.log_metric(key, value, model_id=model_id)
                else:
                    mlflow.log_metric(key, value)
    version = str(info.registered_model_version)
    return TrainedModel(run.info.run_id, model_id, name, version, metrics)
