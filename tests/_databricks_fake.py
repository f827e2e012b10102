"""Fake Databricks REST server for DBFS and Files API (owned by the findings issue)."""
