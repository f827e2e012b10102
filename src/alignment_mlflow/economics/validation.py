"""The scores' validation: every problem found in one pass, counted and sampled by id, raised
at once before anything is written. Shared by the Arrow and Spark engines (their names are
re-exported by :mod:`~alignment_mlflow.economics.core`). Pure: no third-party imports, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from alignment_mlflow.errors import InvalidInputError

SAMPLE_IDS = 5
NULL_LABEL = "(null)"


class ScoresError(InvalidInputError):
    """Raised when the scores cannot be planned on: a missing column, duplicate ids, null, NaN or
    out-of-range scores, or no rows at all. Raised before anything is written."""


# --------------------------------------------------------------------------- validation


@dataclass
class Issue:
    column: str
    problem: str
    count: int = 0
    sample: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        ids = f" (first ids: {', '.join(self.sample)})" if self.sample else ""
        return f"column {self.column!r}: {self.count:,} {self.problem}{ids}"


@dataclass
class Validation:
    """Problems found in the scores, merged across batches and partitions; the first few ids of
    each are kept so a user can look the rows up."""

    source: str
    issues: dict[tuple[str, str], Issue] = field(default_factory=dict)

    def add(self, column: str, problem: str, count: int, ids: Sequence[object] = ()) -> None:
        if count <= 0:
            return
        issue = self.issues.setdefault((column, problem), Issue(column, problem))
        issue.count += int(count)
        room = SAMPLE_IDS - len(issue.sample)
        issue.sample.extend(str(i) for i in list(ids)[:room])

    def missing(self, column: str, role: str, available: Sequence[str]) -> None:
        shown = ", ".join(available[:20]) + (", ..." if len(available) > 20 else "")
        self.issues[(column, "missing")] = Issue(
            column, f"missing: no {role} column {column!r} (columns: {shown})"
        )

    def empty(self) -> None:
        self.issues[("", "empty")] = Issue("", "empty: the scores have no rows; score first")

    def raise_if_any(self) -> None:
        if not self.issues:
            return
        lines = [f"scores {self.source} cannot be planned on; nothing was written:"]
        for issue in self.issues.values():
            if issue.problem.startswith("missing"):
                lines.append(f"  - {issue.problem}; pass the right --id-column/--score-column")
            elif issue.problem.startswith(("empty", "--group-column")):
                lines.append(f"  - {issue.problem}")
            else:
                lines.append(f"  - {issue}")
        raise ScoresError(lines=lines)


def check_columns(
    validation: Validation,
    available: Sequence[str],
    *,
    id_column: str,
    score_column: str,
    group_columns: Sequence[str],
) -> None:
    roles = [(id_column, "id"), (score_column, "score"), *((g, "group") for g in group_columns)]
    for column, role in roles:
        if column not in available:
            validation.missing(column, role, list(available))
    for g in group_columns:
        if g in (id_column, score_column):
            role = "id" if g == id_column else "score"
            validation.issues[(g, "group")] = Issue(
                g,
                f"--group-column {g!r} is the {role} column: a fairness group is a segment "
                "with few values (region, age band), never one label per customer",
            )
    validation.raise_if_any()
