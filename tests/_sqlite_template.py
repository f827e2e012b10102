"""A new sqlite MLflow store in this process starts as a copy of one migrated by MLflow itself.

MLflow builds a new sqlite store by running its Alembic migrations, about 3.5 s of CPU each time;
hundreds of tests open a store of their own, so the suite paid that hundreds of times. The
first new store of a worker is migrated by MLflow as usual and kept as a template; every later
one is filled from it with SQLite's backup API, page for page the database MLflow's migrations
made. Only this process is concerned: a CLI run as a subprocess (the first-run tests, the docs
tour) still migrates its store for real.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_template: list[Path] = []


def _database(engine: Any) -> str | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(url.database)


def _from_template(real: Callable[[Any], None], folder: Path) -> Callable[[Any], None]:
    def initialize(engine: Any) -> None:
        target = _database(engine)
        if target is None:
            real(engine)
            return
        if not _template:
            real(engine)
            copy = folder / "template.db"
            with sqlite3.connect(target) as src, sqlite3.connect(copy) as dst:
                src.backup(dst)
            _template.append(copy)
            return
        src, dst = sqlite3.connect(_template[0]), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()

    return initialize


@pytest.fixture(scope="session")
def _sqlite_template_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-template")


@pytest.fixture(autouse=True)
def _sqlite_stores_from_a_template(
    monkeypatch: pytest.MonkeyPatch, _sqlite_template_folder: Path
) -> Iterator[None]:
    try:
        import mlflow.store.db.utils as db_utils
        import mlflow.store.model_registry.sqlalchemy_store as registry_store
    except ImportError:  # no sqlalchemy: the tests of that case need no store
        yield
        return
    real = db_utils._initialize_tables
    patched = _from_template(real, _sqlite_template_folder)
    monkeypatch.setattr(db_utils, "_initialize_tables", patched)
    if hasattr(registry_store, "_initialize_tables"):
        monkeypatch.setattr(registry_store, "_initialize_tables", patched)
    yield
