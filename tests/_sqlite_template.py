"""New sqlite MLflow stores start as a copy of one MLflow migrated, in this process and in every
Python subprocess a test starts (see _subprocess/mlflow_template.py for why and how).

Once per worker MLflow migrates a store of its own (the template); the tests' processes find it
through ``ALIGNMENT_TESTS_SQLITE_TEMPLATE`` and load the hook from ``PYTHONPATH``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from _subprocess.mlflow_template import TEMPLATE_ENV, from_template

HOOKS = Path(__file__).parent / "_subprocess"


@pytest.fixture(scope="session", autouse=True)
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    try:
        from mlflow import MlflowClient
    except ImportError:  # the floor venv without sqlalchemy: no store to copy
        yield None
        return
    path = tmp_path_factory.mktemp("mlflow-template") / "template.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # MLflow's own migrations, once
    before = {k: os.environ.get(k) for k in (TEMPLATE_ENV, "PYTHONPATH")}
    os.environ[TEMPLATE_ENV] = str(path)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOKS), before["PYTHONPATH"]) if p)
    try:
        yield str(path)
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def _sqlite_stores_from_the_template(
    monkeypatch: pytest.MonkeyPatch, _sqlite_template: str | None
) -> None:
    if _sqlite_template is None:
        return
    import mlflow.store.db.utils as db_utils
    import mlflow.store.model_registry.sqlalchemy_store as registry_store

    patched = from_template(_sqlite_template, db_utils._initialize_tables)
    monkeypatch.setattr(db_utils, "_initialize_tables", patched)
    if hasattr(registry_store, "_initialize_tables"):
        monkeypatch.setattr(registry_store, "_initialize_tables", patched)
