"""Wide findings files, generated from a real fixture by replicating its columns.

Aggregated churn features often have thousands of columns; committing such files would bloat the
repository, so tests and ``bench/wide.py`` build them here. Each copy of a column gets a new name
(``<name>__w00042``) and keeps the framework's layout (its own dump options), so the result is
what the framework would write for a wider dataset.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

FIXTURE = Path(__file__).parent / "fixtures" / "findings" / "telco_pii_churn_408768_findings.yaml"


def wide_findings_text(columns: int, fixture: Path = FIXTURE) -> str:
    """The fixture with ``columns`` columns, dumped as the framework dumps findings."""
    data: dict[str, Any] = yaml.load(fixture.read_text(), Loader=yaml.CSafeLoader)
    originals = list(data["columns"].items())
    wide: dict[str, Any] = {}
    for i in range(columns):
        name, col = originals[i % len(originals)]
        new = name if i < len(originals) else f"{name}__w{i:05d}"
        wide[new] = {**copy.deepcopy(col), "name": new}  # no shared nodes: no anchors
    data["columns"] = wide
    data["column_count"] = columns
    return yaml.dump(data, Dumper=yaml.CSafeDumper, default_flow_style=False, sort_keys=False)


def write_wide_findings(folder: Path, columns: int) -> Path:
    """Write a ``wide<n>_aggregated_findings.yaml`` file into ``folder`` and return its path."""
    path = folder / f"wide{columns}_aggregated_findings.yaml"
    path.write_text(wide_findings_text(columns), encoding="utf-8")
    return path
