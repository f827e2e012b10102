"""Where ``outcomes()`` meets an engine: reading the assignments and the outcomes and reducing
their join to a :class:`~.counts.Scan`, behind one seam (:class:`Engine`) with two
implementations, Arrow (paths, URIs, Arrow tables; delta-rs) and Spark (``catalog.schema.table``
names, DataFrames). Everything after the scan is the same code for both; the engines' modules
load only when their engine is chosen."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, Protocol

from alignment_mlflow.outcomes.counts import ASSIGNMENT_COLUMNS, Scan
from alignment_mlflow.tables.names import is_table_name
from alignment_mlflow.tables.spark import session_for


class Engine(Protocol):
    name: Literal["arrow", "spark"]
    label: str
    assignments_location: str  # as recorded (Delta ones with the version read: ``path@v3``)
    outcomes_location: str

    def campaigns(self, project: str) -> list[str | None]:
        """The campaigns the project's assignments hold (None: planned without --campaign)."""
        ...

    def scan(self, project: str, campaign: str | None) -> Scan: ...


class ArrowEngine:
    name: Literal["arrow", "spark"] = "arrow"
    label = "Arrow"

    def __init__(self, assignments: Any, outcomes: Any, *, id_column: str, churned: str) -> None:
        from alignment_mlflow.outcomes import arrow_engine as a

        self._a, self._o = (
            a.open_source(assignments, "assignments"),
            a.open_source(outcomes, "outcomes"),
        )
        self.assignments_location, self.outcomes_location = self._a[1], self._o[1]
        a.require(self._a[0], ASSIGNMENT_COLUMNS, "assignments", self.assignments_location)
        a.require(self._o[0], [id_column, churned], "outcomes", self.outcomes_location)
        self._columns = (id_column, churned)
        self._assigned: Any = None
        self._outcomes: Future[Any] | None = None

    def campaigns(self, project: str) -> list[str | None]:
        from alignment_mlflow.outcomes import arrow_engine as a

        # The outcomes are read on a second thread while the assignments stream on this one
        # (Arrow and NumPy release the GIL): the two reads overlap on two cores. Its errors are
        # raised in scan(), after the campaign has been checked, as when read in series.
        if self._outcomes is None:
            pool = ThreadPoolExecutor(1, thread_name_prefix="outcomes-read")
            self._outcomes = pool.submit(
                a.read_outcomes, self._o[0], *self._columns, self.outcomes_location
            )
            pool.shutdown(wait=False)
        # Joined as they stream, once the outcomes' map is ready (arrow_join.StreamJoin).
        self._assigned = a.read_assignments(self._a[0], project, self._outcomes)
        return a.campaigns(self._assigned)

    def scan(self, project: str, campaign: str | None) -> Scan:
        from alignment_mlflow.outcomes import arrow_engine as a

        if self._assigned is None:
            self.campaigns(project)
        assert self._outcomes is not None
        id_column, churned = self._columns
        return a.scan(self._assigned, self._outcomes.result(), campaign, id_column=id_column,
                      churned_column=churned, where=self.outcomes_location)  # fmt: skip


class SparkEngine:
    name: Literal["arrow", "spark"] = "spark"
    label = "Spark"

    def __init__(
        self, assignments: Any, outcomes: Any, spark: Any, *, id_column: str, churned: str
    ) -> None:
        from alignment_mlflow.outcomes import spark_engine as s

        what = next(
            (str(x) for x in (assignments, outcomes) if isinstance(x, str) and _is_table(x)),
            "the assignments",
        )
        session = _session_of(assignments, outcomes) or session_for(
            what, spark, instead="pass Delta or Parquet paths instead"
        )
        self._a = s.open_source(session, assignments, "assignments")
        self._o = s.open_source(session, outcomes, "outcomes")
        self.assignments_location, self.outcomes_location = self._a[1], self._o[1]
        s.require(self._a[0], ASSIGNMENT_COLUMNS, "assignments", self.assignments_location)
        s.require(self._o[0], [id_column, churned], "outcomes", self.outcomes_location)
        self._columns = (id_column, churned)

    def campaigns(self, project: str) -> list[str | None]:
        from alignment_mlflow.outcomes import spark_engine as s

        return s.campaigns(self._a[0], project)

    def scan(self, project: str, campaign: str | None) -> Scan:
        from alignment_mlflow.outcomes import spark_engine as s

        id_column, churned = self._columns
        return s.scan(self._a[0], self._o[0], project, campaign, id_column=id_column,
                      churned_column=churned, where=self.outcomes_location)  # fmt: skip


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "sparkSession")


def _is_table(where: str) -> bool:
    """A metastore name, unless a local file or folder of that name exists."""
    return not os.path.exists(where) and "://" not in where and is_table_name(where)


def _session_of(*sources: Any) -> Any:
    return next((x.sparkSession for x in sources if _is_frame(x)), None)


def uses_spark(*sources: Any) -> bool:
    return any(_is_frame(x) or (isinstance(x, str) and _is_table(x)) for x in sources)


def open_engine(
    assignments: Any, outcomes: Any, *, spark: Any, id_column: str, churned: str,
    engine: str | None = None,
) -> Engine:  # fmt: skip
    """Spark when either input is a table name or a DataFrame (the other is then read with the
    same session, a path included), or when ``engine`` says so; Arrow otherwise. Read errors
    are raised here."""
    if engine == "spark" or (engine is None and uses_spark(assignments, outcomes)):
        return SparkEngine(assignments, outcomes, spark, id_column=id_column, churned=churned)
    return ArrowEngine(assignments, outcomes, id_column=id_column, churned=churned)
