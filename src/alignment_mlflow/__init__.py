"""alignment_mlflow: a churn project's business alignment as tracked, queryable facts.

Importing the package is cheap: the heavy parts (mlflow, deltalake, pandas) load only when
:func:`align` runs, so ``alignment-mlflow --help`` and ``validate`` stay fast. The one check at
import is the installed MLflow's version (:mod:`alignment_mlflow.runtime`): an unsupported
runtime is refused with the runtimes we support, before anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alignment_mlflow._version import __version__
from alignment_mlflow.runtime import check_mlflow as _check_mlflow

_check_mlflow()

__all__ = [
    "AlignmentResult",
    "AlignmentSpec",
    "GateResult",
    "PlanResult",
    "__version__",
    "align",
    "gate",
    "load_spec",
    "plan",
]

if TYPE_CHECKING:
    from alignment_mlflow.economics.api import PlanResult, plan
    from alignment_mlflow.gating.api import gate
    from alignment_mlflow.gating.result import GateResult
    from alignment_mlflow.pipeline import AlignmentResult, align
    from alignment_mlflow.spec import load_spec
    from alignment_mlflow.spec.model import AlignmentSpec


def __getattr__(name: str) -> Any:
    if name in ("align", "AlignmentResult"):
        from alignment_mlflow import pipeline

        return getattr(pipeline, name)
    if name in ("plan", "PlanResult"):
        from alignment_mlflow.economics import api

        return getattr(api, name)
    if name == "gate":
        from alignment_mlflow.gating.api import gate

        return gate
    if name == "GateResult":
        from alignment_mlflow.gating.result import GateResult

        return GateResult
    if name == "load_spec":
        from alignment_mlflow.spec import load_spec

        return load_spec
    if name == "AlignmentSpec":
        from alignment_mlflow.spec.model import AlignmentSpec

        return AlignmentSpec
    raise AttributeError(f"module 'alignment_mlflow' has no attribute {name!r}")
