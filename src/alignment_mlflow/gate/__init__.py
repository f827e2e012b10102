"""The success-metric gate: judge a model's logged metrics against the alignment spec and record
the verdict on the model's run and registered version.

Pure core: ``parsing`` (the strings a user types: ``SLUG=KEY:unit``, ``models:/NAME/VERSION``,
units and percentiles in metric keys), ``verdict`` (operators, unit conversion, per-metric status,
overall verdict, the tags and table that record it) and ``result`` (what ``gate()`` returns and
how it renders). I/O: ``mlflow_io`` (reads and compare-first writes through an ``MlflowClient``)
and ``api`` (the orchestration behind ``alignment_mlflow.gate`` and ``alignment-mlflow gate``).
Importing this package imports none of them.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableRoom(types.ModuleType):
    """``alignment_mlflow.gate(...)`` is the public API *and* the name of this room: once this
    package is imported, Python binds ``alignment_mlflow.gate`` to it, so calling the package
    calls :func:`alignment_mlflow.gate.api.gate` (same signature, same result)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from alignment_mlflow.gate.api import gate

        return gate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableRoom
