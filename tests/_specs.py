"""Small spec builders for tests."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from alignment_mlflow.spec import load_spec
from alignment_mlflow.spec.model import AlignmentSpec
from conftest import TEMPLATE_SPEC


def spec_data(project: str = "Customer Churn Prediction") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TEMPLATE_SPEC.read_text())
    data["business_context"]["project_name"] = project
    return copy.deepcopy(data)


def make_spec(project: str = "Customer Churn Prediction", **changes: Any) -> AlignmentSpec:
    data = spec_data(project)
    for key, value in changes.items():
        data[key] = value
    return load_spec(data)
