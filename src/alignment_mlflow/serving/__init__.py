"""Tiers at serving time: the agreed bands inside the served model (``serve``), as a Spark column
(:func:`tier_column`) and as a SQL function, one band table and one exact-value rule for all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignment_mlflow.serving.api import serve
    from alignment_mlflow.serving.result import ServeResult
    from alignment_mlflow.serving.spark import tier_column

__all__ = ["ServeResult", "serve", "tier_column"]


def __getattr__(name: str) -> Any:
    """Lazy, so importing the room (or the served model's code) loads no Spark and no MLflow."""
    if name == "tier_column":
        from alignment_mlflow.serving.spark import tier_column

        return tier_column
    if name == "serve":
        from alignment_mlflow.serving.api import serve

        return serve
    if name == "ServeResult":
        from alignment_mlflow.serving.result import ServeResult

        return ServeResult
    raise AttributeError(f"module 'alignment_mlflow.serving' has no attribute {name!r}")
