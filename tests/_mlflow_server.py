"""Session-wide mlflow server fixture (owned by the MLflow issue)."""
