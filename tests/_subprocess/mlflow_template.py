"""A new sqlite MLflow store starts as a copy of one MLflow migrated: the copy itself, and the
import hook that brings it into the Python subprocesses the tests start (their CLI runs).

MLflow builds a new sqlite store by running its Alembic migrations, about 3.5 s of CPU each time,
and the suite opens hundreds of stores. The template is migrated by MLflow once per test worker
(tests/_sqlite_template.py); a new store is then filled from it with SQLite's backup API, page
for page the database MLflow's migrations made. A test that needs MLflow's own first-run path
(its log lines) takes ``TEMPLATE_ENV`` out of its subprocess's environment.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any

TEMPLATE_ENV = "ALIGNMENT_TESTS_SQLITE_TEMPLATE"
PATCHED = "mlflow.store.db.utils"


def copy_template(template: str, engine: Any) -> bool:
    """Fill the engine's new sqlite database from the template; False when it is not sqlite."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return False
    src, dst = sqlite3.connect(template), sqlite3.connect(str(url.database))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return True


def from_template(template: str, real: Callable[[Any], None]) -> Callable[[Any], None]:
    def initialize(engine: Any) -> None:
        if not copy_template(template, engine):
            real(engine)

    return initialize


def patch(module: Any, template: str) -> None:
    module._initialize_tables = from_template(template, module._initialize_tables)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches ``mlflow.store.db.utils`` as it is first imported (before the registry store
    imports ``_initialize_tables`` from it by name)."""

    def __init__(self, template: str) -> None:
        self.template = template

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if name != PATCHED:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            patch(module, self.template)

        loader.exec_module = exec_module
        return spec


def install_hook() -> None:
    template = os.environ.get(TEMPLATE_ENV)
    if template and os.path.isfile(template) and PATCHED not in sys.modules:
        sys.meta_path.insert(0, _AfterImport(template))
