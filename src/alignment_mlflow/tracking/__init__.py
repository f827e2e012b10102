"""The MLflow run: its content (params, tags, description, report, tables; pure) and the MLflow
I/O that logs it (runs)."""
