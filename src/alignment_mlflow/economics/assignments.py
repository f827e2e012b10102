"""The assignments table on a path or URI: one row per customer, Delta, partitioned by project.

Each plan replaces its project's rows in one commit, so readers see the old plan or the new one,
never a mix; a plan that already wrote the project's rows (same run, same row count) commits
nothing.

On a local path (including ``/Volumes/`` and ``/dbfs/`` on a cluster) the Parquet files are
streamed out with pyarrow's writer, in the project's partition folder, and then committed with
delta-rs' transaction API (``create_table_with_add_actions`` / ``create_write_transaction`` with
an ``overwrite`` of the project's partition). delta-rs' own ``write_deltalake`` buffers a
partitioned write in memory (4.3 GiB for 50M rows in ``bench/plan.py``, 2.5x the I/O floor); the
streamed files keep memory to a batch and time close to the floor. Files that were written but
not committed are removed, so a failed plan leaves nothing a reader or ``VACUUM`` would need to
know about. Cloud URIs keep ``write_deltalake``, whose object stores and credentials we do not
reimplement.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from alignment_mlflow.economics import leftovers
from alignment_mlflow.economics.filestats import FileStats
from alignment_mlflow.economics.lanes import feed
from alignment_mlflow.economics.report import ASSIGNMENT_COLUMNS, ASSIGNMENTS_COMMENT
from alignment_mlflow.errors import TargetError
from alignment_mlflow.interrupts import deferred
from alignment_mlflow.tables.delta_features import refusal, unsupported
from alignment_mlflow.tables.delta_rs import current_version, open_table
from alignment_mlflow.tables.names import sql_string

# About 8M rows per file (~140 MB of Parquet): within Databricks' 128 MB-1 GB file sizes.
FILE_ROWS = 1 << 23
# Files written at once, each by a thread of its own: two keep two cores encoding while the
# reading and tiering of the next batch (one more core's worth at most) feeds them.
LANES = 2
PARTITION = "project"

_ARROW = {
    "string": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
# Columns with few distinct values per plan: dictionary pages make them nearly free to store.
# The ids and scores are (nearly) all distinct: a dictionary would be tried and thrown away.
_DICTIONARY = (
    "tier",
    "tier_rank",
    "intervention",
    "cost",
    "currency",
    "campaign",
    "arm",
    "holdout_fraction",
    "spec_sha256",
    "plan_run_id",
    "scored_at",
)

_STATISTICS = ("customer_id", "churn_score", "tier_rank", "cost", "scored_at")
# How a new assignments table is created, by either writer.
_NEW_TABLE: dict[str, Any] = {
    "partition_by": [PARTITION],
    "name": "churn_assignments",
    "description": ASSIGNMENTS_COMMENT,
}


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """How the assignments' Parquet files are written (``bench/plan.py``'s floor uses it too)."""
    return {
        "compression": "snappy",
        "use_dictionary": [c for c in _DICTIONARY if c in schema.names],
        # Row-group min/max where readers filter: ids, scores, ranks, costs, time. Statistics
        # of the dictionary-encoded strings cost a third of the encoding and tell a reader
        # nothing tier_rank and the partition do not.
        "write_statistics": [c for c in _STATISTICS if c in schema.names],
        "store_schema": False,  # Delta readers take the types from the log, not Arrow's hints
    }


def arrow_schema(id_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                c.name,
                id_type if c.type == "id" else _ARROW[c.type],
                nullable=c.nullable,
                metadata={"comment": c.comment},
            )
            for c in ASSIGNMENT_COLUMNS
        ]
    )


def _columns(schema: Any) -> list[tuple[str, str]]:
    return [(f["name"], json.dumps(f["type"])) for f in json.loads(schema.to_json())["fields"]]


def check_target(
    uri: str, id_type: pa.DataType, *, project: str | None = None, project_name: str | None = None
) -> None:
    """Refuse, before anything is written, a table at ``uri`` the plan could not replace rows in,
    or whose rows under ``project`` (a slug) are another project's that slugs alike."""
    from deltalake import Schema

    table = open_table(uri)
    if table is None:
        return
    found = unsupported(table)
    if found:
        raise TargetError(refusal("assignments table", uri, found))
    if project:
        check_slug(table.history(limit=HISTORY_LIMIT), uri, project, project_name)
    partitions = list(table.metadata().partition_columns)
    want = dict(_columns(Schema.from_arrow(arrow_schema(id_type))))
    have = dict(_columns(table.schema()))
    # A table an older version wrote lacks the later nullable columns (the holdout's): the
    # write adds them in its own commit (a schema change of our own table; its other rows read
    # null), so they are not a problem.
    later = {c.name for c in ASSIGNMENT_COLUMNS if c.nullable}
    problems = [
        f"{name} is {json.loads(have[name]) if name in have else 'missing'} there, "
        f"{json.loads(want[name]) if name in want else 'not one of ours'} here"
        for name in dict.fromkeys([*want, *have])
        if have.get(name) != want.get(name) and not (name not in have and name in later)
    ]
    if partitions != [PARTITION]:
        problems.append(f"it is partitioned by {partitions or 'nothing'}, not [{PARTITION!r}]")
    if problems:
        raise TargetError(
            f"assignments table {uri} cannot take these assignments: {'; '.join(problems)}. "
            "Pass a new path, or the table an earlier plan of scores with the same id type wrote"
        )


#: How far back the log is searched for the project's last plan (older: it is written again).
HISTORY_LIMIT = 1_000


def already_written(uri: str, *, project: str, run_id: str, rows: int) -> int | None:
    """The table's version when the project's rows are exactly this run's, else None.

    Decided by the log, which cannot lie: the newest commit that touched the project must be
    this run's plan (its commit metadata names project and run), with no commit of another
    writer after it (one could have changed the project's rows), and the row count must match.
    File statistics decide nothing here; a false "unchanged" would keep last month's tiers.
    """
    table = open_table(uri)
    commit = None if table is None else _last_plan(table.history(limit=HISTORY_LIMIT), project)
    if table is None or commit is None or commit["plan_run_id"] != run_id:
        return None
    if table.to_pyarrow_dataset().count_rows(filter=ds.field(PARTITION) == project) != rows:
        return None
    return int(table.version())


def check_slug(
    history: Iterable[dict[str, Any]], table: str, project: str, project_name: str | None
) -> None:
    """Refuse a plan whose project slug another project's plan holds in the table (its rows
    would be replaced): decided from the newest plan commit of the slug (``history``, newest
    first, as delta-rs' ``history()`` or Spark's ``DESCRIBE HISTORY`` give it), for both
    engines."""
    last = _last_plan(history, project)
    theirs = (last or {}).get("project_name")
    if theirs is not None and theirs != project_name:
        raise TargetError(
            f"assignments table {table} already holds project {theirs!r} under the id "
            f"{project!r}, which {project_name!r} also slugs to; nothing was written. Rename one "
            "project (business_context.project_name) or pass another --assignments-table"
        )


def _last_plan(history: Iterable[dict[str, Any]], project: str) -> dict[str, Any] | None:
    """The commit metadata of the newest commit that touched ``project``'s rows, when that
    commit was a plan of ours; None when it was another writer's or is out of reach."""
    for entry in history:
        commit = {**_user_metadata(entry), **entry}
        if "plan_run_id" not in commit or "project" not in commit:
            return None  # not a plan of ours: it may have changed anything
        if commit["project"] == project:
            return commit
        # another project's plan replaces only its own partition
    return None


def _user_metadata(commit: dict[str, Any]) -> dict[str, Any]:
    """Spark writes our commit metadata as one JSON string (``userMetadata``)."""
    try:
        value = json.loads(commit.get("userMetadata") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write(
    uri: str,
    batches: pa.RecordBatchReader,
    *,
    project: str,
    commit_metadata: dict[str, str],
) -> int:
    """Replace the project's rows with ``batches`` (streamed, every row in ``project``); returns
    the new version."""
    root = _local_root(uri)
    if root is None:
        _write_deltalake(uri, batches, project=project, commit_metadata=commit_metadata)
    else:
        _write_files(root, uri, batches, project=project, commit_metadata=commit_metadata)
    version = current_version(uri)
    assert version is not None
    return version


def remove_leftovers(uri: str, project: str) -> list[str]:
    """Part files of the project's plans killed before their commit, removed (``leftovers``)."""
    root = _local_root(uri)
    return [] if root is None else leftovers.remove_orphan_parts(root, _partition_folder(project))


def _local_root(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    return None if "://" in uri else Path(uri)


def _plain(schema: pa.Schema) -> pa.Schema:
    """The table's schema: dictionary-encoded stream columns are strings in Delta."""
    return pa.schema(
        [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema]
    )


def _partition_folder(project: str) -> str:
    # Hive-style escaping, as delta-rs and Spark name partition folders; readers take the value
    # from the log's partitionValues, the folder only has to be unique and safe.
    return f"{PARTITION}={quote(project, safe='')}"


class _Parts:
    """The project's Parquet files as they are written, and the AddActions that commit them."""

    def __init__(self, root: Path, project: str, schema: pa.Schema, lane: int, lanes: int) -> None:
        self.root, self.project, self.schema = root, project, schema
        self.lane, self.lanes = lane, lanes
        self.folder = _partition_folder(project)
        self.written: list[Path] = []
        self.adds: list[Any] = []
        self.writer: pq.ParquetWriter | None = None
        self.stats = FileStats()

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is not None and self.stats.rows + batch.num_rows > FILE_ROWS:
            self.close()
        if self.writer is None:
            index = len(self.written) * self.lanes + self.lane
            name = leftovers.part_name(index)
            path = self.root / self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self.written.append(path)
            self.writer = pq.ParquetWriter(path, self.schema, **parquet_options(self.schema))
            self.stats = FileStats()
        self.writer.write_batch(batch)
        self.stats.add(batch)

    def close(self) -> None:
        from deltalake.transaction import AddAction

        if self.writer is None:
            return
        self.writer.close()
        self.writer = None
        path = self.written[-1]
        self.adds.append(
            AddAction(
                f"{self.folder}/{path.name}",
                path.stat().st_size,
                {PARTITION: self.project},
                int(time.time() * 1000),
                True,
                self.stats.to_json(),
            )
        )

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        for path in self.written:
            path.unlink(missing_ok=True)


def _write_files(
    root: Path,
    uri: str,
    batches: pa.RecordBatchReader,
    *,
    project: str,
    commit_metadata: dict[str, str],
) -> None:
    from deltalake import CommitProperties, Schema
    from deltalake.transaction import create_table_with_add_actions

    stream = batches.schema
    at = stream.get_field_index(PARTITION)
    file_schema = stream.remove(at).remove_metadata()
    lanes = [_Parts(root, project, file_schema, lane, LANES) for lane in range(LANES)]
    table_schema = Schema.from_arrow(_plain(stream))
    adds: list[Any] = []
    try:
        # Ctrl-C and SIGTERM wait for a batch boundary and the writer threads' end: raised in the
        # middle of a queue or thread wait, one once had the files removed under a writer.
        with deferred() as stopping:
            body = (b.drop_columns([PARTITION]) for b in batches if b.num_rows)
            feed(body, [p.write for p in lanes], stopping)
            for parts in lanes:
                parts.close()
        adds = [a for parts in lanes for a in parts.adds]
        props = CommitProperties(custom_metadata=commit_metadata)
        table = open_table(uri)
        _recheck(table, uri)
        if table is None:
            create_table_with_add_actions(
                uri,
                table_schema,
                adds,
                mode="error",
                commit_properties=props,
                **_NEW_TABLE,
            )
        else:
            table.create_write_transaction(
                adds,
                mode="overwrite",
                schema=table_schema,
                partition_by=[PARTITION],
                partition_filters=[(PARTITION, "=", project)],
                commit_properties=props,
            )
    except BaseException:
        # A commit can land and still raise (a post-commit hook such as a checkpoint failing):
        # then the files are the table's and must stay.
        if not _landed(uri, [a.path for a in adds]):
            for parts in lanes:
                parts.discard()
        raise


def _recheck(table: Any, uri: str) -> None:
    """The features check of ``check_target`` again, at the commit: a writer may have upgraded
    the table (deletion vectors, column mapping) since the check before the run; delta-rs would
    commit onto it all the same."""
    found = [] if table is None else unsupported(table)
    if found:
        raise TargetError(refusal("assignments table", uri, found))


def _landed(uri: str, paths: list[str]) -> bool:
    if not paths:
        return False
    try:
        table = open_table(uri)
        in_table = set() if table is None else set(table.file_uris())
    except Exception:
        return True  # cannot tell: keeping orphan files is safe, deleting live ones is not
    return any(u.endswith("/" + p) for p in paths for u in in_table)


def _write_deltalake(
    uri: str,
    batches: pa.RecordBatchReader,
    *,
    project: str,
    commit_metadata: dict[str, str],
) -> None:
    from deltalake import CommitProperties, write_deltalake

    props = CommitProperties(custom_metadata=commit_metadata)
    table = open_table(uri)
    _recheck(table, uri)
    if table is None:
        write_deltalake(
            uri,
            batches,
            mode="append",
            commit_properties=props,
            **_NEW_TABLE,
        )
    else:
        write_deltalake(
            uri,
            batches,
            mode="overwrite",
            predicate=f"{PARTITION} = {sql_string(project)}",
            schema_mode="merge",  # a table written before the holdout's columns gains them
            commit_properties=props,
        )
