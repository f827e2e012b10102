"""What keys a spec may hold, and what values: the collector every validator reports into,
"did you mean" for misspelt keys inside entries, and the values JSON cannot hold.

Pure: no I/O.
"""

from __future__ import annotations

import datetime
import difflib
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from alignment_mlflow.errors import Problem

T = TypeVar("T")


def normalise_key(key: object) -> str:
    """``Risk Level`` / ``risk-level`` / ``RISK_LEVEL`` -> ``risk_level``."""
    return "_".join(str(key).strip().lower().replace("-", " ").split())


class Collector:
    def __init__(self, source: str | None, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[Problem] = []
        #: Fields already reported as unusable values (binary data...): one message per field.
        self.settled: set[str] = set()
        self.warnings: list[str] = []

    def add(self, path: str, message: str, expected: str = "") -> None:
        if _field_key(path) in self.settled:
            return
        line = self.lines.get(path)
        if line is None and "." in path:  # normalised key paths may differ from the raw ones
            line = self.lines.get(path.rsplit(".", 1)[0])
        self.problems.append(Problem(path, message, expected, self.source, line))

    def parse(self, path: str, value: Any, parser: Callable[[str], T]) -> T | None:
        if not isinstance(value, str):
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            else:
                self.add(path, f"expected text, got {type(value).__name__} {value!r}")
                return None
        try:
            return parser(value)
        except ValueError as exc:
            self.add(path, str(exc))
            return None


METRIC_KEYS = {"name": "metric", "goal": "target"}
INTERVENTION_KEYS = {
    "risk": "risk_level",
    "tier": "risk_level",
    "cost_per_customer": "cost",
    "effectiveness": "expected_effectiveness",
    "expected_retention": "expected_effectiveness",
}


ENTRY_ALIASES = {**METRIC_KEYS, **INTERVENTION_KEYS}


_SPEC_SCALARS = (str, int, float, bool, type(None), datetime.date, datetime.time)


def unsupported_values(data: Any, c: Collector) -> None:
    """Report binary data (``!!binary``), ``.inf``/``.nan`` and values no YAML or JSON file can
    hold (a notebook dict's ``Decimal`` or objects) wherever they are: what a spec holds is
    written into the findings, which the framework saves as JSON. Dates and sets are fine
    (written as ISO strings and lists). Each field is reported once: the section validators stay
    silent about a field reported here. Iterative, so deep nesting cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        problem = ""
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, _SPEC_SCALARS):
                    c.add(path, f"has a key that is {_kind(key)}", "text keys")
                    continue
                stack.append((f"{path}.{key}" if path else str(key), item))
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            problem = "is not a finite number (.inf or .nan), which JSON cannot hold"
        elif not isinstance(value, _SPEC_SCALARS):
            problem = f"is {_kind(value)}"
        if problem:
            c.add(path, problem, "text, a finite number, a date, a list or a mapping")
            c.settled.add(_field_key(path))


def _kind(value: Any) -> str:
    """What a value is, never the value itself (binary data can be anything, PII included)."""
    if isinstance(value, bytes | bytearray):
        return "binary data (!!binary), which findings (saved as JSON) cannot hold"
    return f"a {type(value).__name__}, which YAML and JSON cannot hold"


def _field_key(path: str) -> str:
    """A field path as the section validators name it (normalised keys, entry key aliases)."""
    *head, last = [normalise_key(part) for part in path.split(".")]
    last = ENTRY_ALIASES.get(last, last)
    return ".".join([*head, last])


#: The keys each entry is read for. Other keys are kept (the notebook's extras travel along to
#: MLflow and the findings) with a warning, except near-misses of these, which are errors.
KNOWN_KEYS = {
    "business_context": (
        "project_name",
        "business_objective",
        "stakeholders",
        "timeline",
        "budget_constraints",
    ),
    "success_metrics": (
        "metric",
        "target",
        "priority",
        "rationale",
        "mlflow_metric",
        "measured_on",
    ),
    "deployment_requirements": (
        "scoring_mode",
        "batch_frequency",
        "real_time_latency",
        "retraining",
        "infrastructure",
        "model_registry",
        "monitoring",
    ),
    "data_constraints": ("constraint", "requirement", "status", "check"),
    "interventions": ("risk_level", "intervention", "cost", "expected_effectiveness"),
}


def check_keys(d: dict[str, Any], path: str, section: str, c: Collector) -> None:
    """Say "did you mean" for a misspelt key, as for sections.

    A key close to a known one (``rationle``, ``retrainig``) is an error: a typo must not pass
    unnoticed, and it would silently drop a value. When the key it resembles is absent, the value
    is read under the right name so a misspelt required key gives one message, not a second
    "is missing". Any other unknown key is kept, with a warning.
    """
    known = KNOWN_KEYS[section]
    for key in [k for k in d if k not in known]:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        if close:
            if close[0] not in d:
                d[close[0]] = d[key]
            c.add(f"{path}.{key}", f"unknown key {key!r}; did you mean {close[0]!r}?")
        else:
            c.warnings.append(
                f"{path}.{key}: unknown key, kept as extra information "
                f"(known keys: {', '.join(known)})"
            )
