"""Where ``plan()`` meets an engine: reading the scores, tallying them against the band table and
writing the assignments, behind one seam (:class:`Engine`) with two implementations, Arrow
(local files, Delta paths, Arrow tables; delta-rs) and Spark (table names, DataFrames; Delta
through Spark). ``plan()`` picks one and no longer branches on it; the engines' modules load
only when their engine is chosen."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from alignment_mlflow.bands.table import BandTable
from alignment_mlflow.economics.core import ScoresError, Tally, TopK
from alignment_mlflow.economics.holdout import Holdout
from alignment_mlflow.errors import DeltaWriteError, TargetError
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.tables.names import is_table_name, parse_table_name
from alignment_mlflow.tables.spark import session_for
from alignment_mlflow.tables.targets import resolved_target

if TYPE_CHECKING:
    from alignment_mlflow.economics.scores import ArrowScores


class Engine(Protocol):
    """One way to read, tally and write scores."""

    name: Literal["arrow", "spark"]
    label: str  # for the progress line
    location: str  # the scores as recorded (a path, a table name, <arrow table>)
    scores_version: int | None  # the Delta version the scores were read at, if a Delta table

    def tally(self, table: BandTable) -> tuple[Tally, TopK]: ...

    def tally_held_out(self, table: BandTable, tally: Tally, holdout: Holdout) -> TopK:
        """Add the held out to ``tally`` (after :meth:`tally`); a ``top_k`` of the treated."""
        ...

    def check_target(self, target: str, spec: AlignmentSpec) -> None:
        """Refuse, before anything is written, an assignments table this engine cannot write
        (another shape, features it cannot honour, another project under the spec's slug)."""

    def digest(self) -> str:
        """The scores' content digest (the plan's fingerprint); valid after :meth:`tally`."""
        ...

    def write(
        self, table: BandTable, target: str, constants: dict[str, Any], rows: int,
        meta: dict[str, str], holdout: Holdout | None = None,
    ) -> tuple[str, int, bool]:  # fmt: skip
        """(table as recorded, version, whether this call wrote it)."""
        ...


class ArrowEngine:
    name: Literal["arrow", "spark"] = "arrow"
    label = "Arrow"
    scores_version: int | None = None

    def __init__(
        self, scores: Any, *, id_column: str, score_column: str, group_columns: Sequence[str]
    ) -> None:
        from alignment_mlflow.economics import arrow_engine

        self.src: ArrowScores = arrow_engine.open_scores(scores)
        self.location = self.src.location
        self._columns = (id_column, score_column, list(group_columns))

    def tally(self, table: BandTable) -> tuple[Tally, TopK]:
        from alignment_mlflow.economics import arrow_engine

        id_column, score_column, groups = self._columns
        return arrow_engine.tally(
            self.src, table, id_column=id_column, score_column=score_column, group_columns=groups
        )

    def tally_held_out(self, table: BandTable, tally: Tally, holdout: Holdout) -> TopK:
        from alignment_mlflow.economics import arrow_arms

        id_column, score_column, groups = self._columns
        return arrow_arms.tally_held_out(
            self.src, table, tally, holdout, id_column=id_column, score_column=score_column,
            group_columns=groups,
        )  # fmt: skip

    def check_target(self, target: str, spec: AlignmentSpec) -> None:
        _check_arrow_target(self.src, target, self._columns[0], spec)

    def digest(self) -> str:
        return self.src.digest

    def write(
        self, table: BandTable, target: str, constants: dict[str, Any], rows: int,
        meta: dict[str, str], holdout: Holdout | None = None,
    ) -> tuple[str, int, bool]:  # fmt: skip
        id_column, score_column, _ = self._columns
        return _write_arrow(
            self.src, table, target, id_column, score_column, constants, rows, meta, holdout
        )


class SparkEngine:
    name: Literal["arrow", "spark"] = "spark"
    label = "Spark"

    def __init__(
        self, scores: Any, spark: Any, *, id_column: str, score_column: str,
        group_columns: Sequence[str],
    ) -> None:  # fmt: skip
        self.frame, self.location, self.session, self.scores_version = _spark_scores(scores, spark)
        self._columns = (id_column, score_column, list(group_columns))
        self._digest = ""

    def tally(self, table: BandTable) -> tuple[Tally, TopK]:
        from alignment_mlflow.economics import spark_engine

        id_column, score_column, groups = self._columns
        _, self._digest = spark_engine.validate(
            self.frame,
            id_column=id_column,
            score_column=score_column,
            group_columns=groups,
            source=self.location,
        )
        return spark_engine.tally(
            self.frame, table, score_column=score_column, group_columns=groups
        )

    def tally_held_out(self, table: BandTable, tally: Tally, holdout: Holdout) -> TopK:
        from alignment_mlflow.economics import spark_engine

        id_column, score_column, groups = self._columns
        return spark_engine.tally_held_out(
            self.frame, table, tally, holdout, id_column=id_column, score_column=score_column,
            group_columns=groups,
        )  # fmt: skip

    def check_target(self, target: str, spec: AlignmentSpec) -> None:
        from alignment_mlflow.economics import spark_engine

        name = _spark_target(target)
        id_type = self.frame.schema[self._columns[0]].dataType.simpleString()
        try:
            spark_engine.check_target(
                self.session, name, id_type, project=spec.project_slug,
                project_name=spec.business_context.project_name,
            )  # fmt: skip
        except TargetError:
            raise
        except Exception as exc:
            raise DeltaWriteError(f"reading the assignments table {name} failed: {exc}") from exc

    def digest(self) -> str:
        return self._digest

    def write(
        self, table: BandTable, target: str, constants: dict[str, Any], rows: int,
        meta: dict[str, str], holdout: Holdout | None = None,
    ) -> tuple[str, int, bool]:  # fmt: skip
        id_column, score_column, _ = self._columns
        return _write_spark(
            self.session, self.frame, table, target, id_column, score_column, constants, rows,
            meta, holdout,
        )  # fmt: skip


def uses_spark(scores: Any, assignments_table: str | None) -> bool:
    """Spark for a DataFrame, a scores table name or an assignments table name; Arrow else."""
    target_is_table = bool(assignments_table) and is_table_name(str(assignments_table))
    return _is_spark_frame(scores) or target_is_table or _scores_table(scores)


def open_engine(
    scores: Any, *, spark: Any, assignments_table: str | None, id_column: str, score_column: str,
    group_columns: Sequence[str],
) -> Engine:  # fmt: skip
    """The engine for these scores, with the scores opened (read errors are raised here)."""
    if uses_spark(scores, assignments_table):
        return SparkEngine(
            scores, spark, id_column=id_column, score_column=score_column,
            group_columns=group_columns,
        )  # fmt: skip
    return ArrowEngine(
        scores, id_column=id_column, score_column=score_column, group_columns=group_columns
    )


def _is_spark_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "sparkSession")


def _session(spark: Any, what: str) -> Any:
    return session_for(what, spark, instead="pass a Parquet or Delta path instead")


def _scores_table(scores: Any) -> bool:
    """A metastore name, unless a local file of that name exists (``scores.parquet``)."""
    return isinstance(scores, str) and not os.path.exists(scores) and is_table_name(scores)


def _spark_scores(scores: Any, spark: Any) -> tuple[Any, str, Any, int | None]:
    """(frame, location as recorded, session, Delta version read). A Delta table is read at its
    current version, pinned once, so the tally and the assignments write see one snapshot even
    when another writer commits in between; the location records it (``name@v12``)."""
    if _is_spark_frame(scores):
        return scores, "<spark dataframe>", scores.sparkSession, None
    where = str(scores)
    table_name = _scores_table(where)
    session = _session(spark, f"scores {where}" if table_name else "the assignments table")
    if table_name:
        name = parse_table_name(where)
        if not session.catalog.tableExists(str(name)):
            raise ScoresError(f"scores table {name} does not exist")
        try:
            version = _delta_version(session, name.quoted)
        except Exception:  # not a Delta table (a view, a Parquet table): read as it is
            return session.table(str(name)), str(name), session, None
        frame = session.sql(f"SELECT * FROM {name.quoted} VERSION AS OF {version}")
        return frame, f"{name}@v{version}", session, version
    if os.path.isdir(os.path.join(where, "_delta_log")):
        version = _delta_version(session, "delta.`" + where.replace("`", "``") + "`")
        frame = session.read.format("delta").option("versionAsOf", version).load(where)
        return frame, f"{where}@v{version}", session, version
    if not os.path.exists(where):
        raise ScoresError(
            f"scores {where} not found: pass a Parquet file or folder or a Delta table"
        )
    return session.read.parquet(where), where, session, None


def _delta_version(session: Any, table_sql: str) -> int:
    """The Delta table's current version, as SQL (``DESCRIBE HISTORY`` runs the same on a classic
    session and over Spark Connect, where delta-spark's Python ``DeltaTable`` may be missing)."""
    [row] = session.sql(f"DESCRIBE HISTORY {table_sql} LIMIT 1").collect()
    return int(row["version"])


def _check_arrow_target(src: Any, target: str, id_column: str, spec: AlignmentSpec) -> None:
    from alignment_mlflow.economics import assignments

    uri = resolved_target(target)
    try:
        assignments.check_target(
            uri,
            src.dataset.schema.field(id_column).type,
            project=spec.project_slug,
            project_name=spec.business_context.project_name,
        )
    except TargetError:
        raise
    except Exception as exc:
        raise DeltaWriteError(f"reading the assignments table {uri} failed: {exc}") from exc


def _write_arrow(
    src: Any, table: BandTable, target: str, id_column: str, score_column: str,
    constants: dict[str, Any], rows: int, meta: dict[str, str], holdout: Holdout | None,
) -> tuple[str, int, bool]:  # fmt: skip
    from alignment_mlflow.economics import arrow_engine, assignments

    uri = resolved_target(target)
    try:
        assignments.remove_leftovers(uri, constants["project"])
        same = assignments.already_written(
            uri, project=constants["project"], run_id=constants["plan_run_id"], rows=rows
        )
        if same is not None:
            return uri, same, False
        id_type = src.dataset.schema.field(id_column).type
        reader = arrow_engine.assignment_batches(
            src,
            table,
            id_column=id_column,
            score_column=score_column,
            constants=constants,
            schema=assignments.arrow_schema(id_type),
            holdout=holdout,
        )
        version = assignments.write(uri, reader, project=constants["project"], commit_metadata=meta)
    except TargetError:  # the table changed under us into one we cannot write: refused
        raise
    except Exception as exc:
        raise DeltaWriteError(f"writing assignments to Delta table {uri} failed: {exc}") from exc
    return uri, version, True


def _spark_target(target: str) -> Any:
    if not is_table_name(target):
        raise TargetError(
            f"assignments table {target!r}: with Spark scores pass a table name "
            "(catalog.schema.table) as --assignments-table"
        )
    return parse_table_name(target)


def _write_spark(
    session: Any, frame: Any, table: BandTable, target: str, id_column: str, score_column: str,
    constants: dict[str, Any], rows: int, meta: dict[str, str], holdout: Holdout | None,
) -> tuple[str, int, bool]:  # fmt: skip
    from alignment_mlflow.economics import spark_engine

    name = _spark_target(target)
    out = spark_engine.assignments_frame(
        frame, table, id_column=id_column, score_column=score_column, constants=constants,
        holdout=holdout,
    )  # fmt: skip
    try:
        version, changed = spark_engine.write_assignments(
            session, name, out, rows=rows, project=constants["project"],
            run_id=constants["plan_run_id"], commit_metadata=meta,
        )  # fmt: skip
    except Exception as exc:
        raise DeltaWriteError(f"writing assignments to {name} with Spark failed: {exc}") from exc
    return str(name), version, changed
