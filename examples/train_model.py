"""Train and register a tiny churn model, so `alignment-mlflow gate` has something to judge.

It logs the metrics the template spec's targets name (`roc_auc`, `precision_at_20pct`,
`latency_p99_s`) on the model's run, into the store given (the demo's, so the model appears in
the UI the demo opens), with its artifacts beside that store's database, never in ./mlruns:

    python examples/train_model.py --tracking-uri sqlite:///demo-output/mlflow.db

It prints the registered version, e.g. models:/churn_model/1. Needs scikit-learn (installed
with full MLflow, the `ui` extra).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--tracking-uri", required=True, help="e.g. sqlite:///demo-output/mlflow.db"
    )
    parser.add_argument("--experiment", default="/Shared/churn/training")
    parser.add_argument("--model-name", default="churn_model")
    parser.add_argument(
        "--if-missing", action="store_true", help="Reuse the newest version if one is registered."
    )
    args = parser.parse_args()

    import mlflow
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    uri: str = args.tracking_uri
    if uri.startswith("sqlite:///"):  # an absolute URI, and artifacts beside the database
        db = Path(uri[len("sqlite:///") :]).resolve()
        uri = f"sqlite:///{db}"
        artifacts: str | None = (db.parent / "mlartifacts").as_uri()
    else:
        artifacts = None
    mlflow.set_tracking_uri(uri)
    if args.if_missing:
        found = mlflow.MlflowClient().search_model_versions(f"name = '{args.model_name}'")
        if found:
            print(f"models:/{args.model_name}/{max(int(v.version) for v in found)}")
            return 0
    if mlflow.get_experiment_by_name(args.experiment) is None:
        mlflow.create_experiment(args.experiment, artifact_location=artifacts)
    mlflow.set_experiment(args.experiment)

    x, y = make_classification(
        n_samples=1200, n_features=8, n_informative=5, weights=[0.75], random_state=7
    )
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.4, random_state=7)
    model = LogisticRegression(max_iter=500).fit(x_tr, y_tr)
    scores = model.predict_proba(x_te)[:, 1]
    top = scores >= np.quantile(scores, 0.8)  # the 20% the campaign can afford
    latencies = []
    for row in x_te[:200]:
        t = time.perf_counter()
        model.predict_proba(row.reshape(1, -1))
        latencies.append(time.perf_counter() - t)
    with mlflow.start_run(run_name="churn-logreg"):
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=args.model_name, input_example=x_te[:2]
        )
        mlflow.log_metrics(
            {
                "roc_auc": float(roc_auc_score(y_te, scores)),
                "precision_at_20pct": float(y_te[top].mean()),
                "latency_p99_s": float(np.quantile(latencies, 0.99)),
            },
            model_id=info.model_id,
        )
    print(f"models:/{args.model_name}/{info.registered_model_version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
