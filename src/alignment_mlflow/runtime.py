"""The MLflow this package runs on, checked once at import.

On Databricks Runtime 14.3/15.4 LTS ML the full ``mlflow`` (2.9-2.11) is installed; installing
this wheel there makes pip lay ``mlflow-skinny`` 3.x over the same ``mlflow`` package folder, a
mix of two versions that fails in ways far from the cause. Refusing at import, with the runtimes
we support, is the one clear message.
"""

from __future__ import annotations

import importlib.metadata
import re

#: The oldest MLflow we support: what Databricks Runtime 16.4 LTS ML ships.
MIN_MLFLOW = (2, 21)
SUPPORTED = (
    "Databricks Runtime 16.4 LTS (ML) or later (MLflow 2.21/2.22), 17.3 LTS or later (MLflow 3), "
    "or serverless environment 4 or later"
)


def _parse(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def unsupported_mlflow(installed: dict[str, str]) -> str | None:
    """The refusal for the installed MLflow distributions (``{"mlflow": "2.11.4", ...}``), or
    ``None`` when every one is new enough."""
    old = {name: v for name, v in installed.items() if _parse(v) < MIN_MLFLOW}
    if not old:
        return None
    found = ", ".join(f"{name} {v}" for name, v in sorted(installed.items()))
    return (
        f"alignment_mlflow needs MLflow >= {MIN_MLFLOW[0]}.{MIN_MLFLOW[1]}; this environment has "
        f"{found}. On Databricks Runtime 14.3/15.4 LTS ML installing this package lays "
        "mlflow-skinny over the runtime's older mlflow, which does not work: use "
        f"{SUPPORTED}; elsewhere pip install 'mlflow-skinny>={MIN_MLFLOW[0]}.{MIN_MLFLOW[1]}'"
    )


def installed_mlflow() -> dict[str, str]:
    found = {}
    for name in ("mlflow", "mlflow-skinny"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def check_mlflow() -> None:
    message = unsupported_mlflow(installed_mlflow())
    if message is not None:
        raise ImportError(message)
