"""Reading scores for the local engine: a Parquet file or folder, a Delta table (delta-rs) or an
in-memory Arrow table, batch by batch, with a content digest computed beside the reading. Out of
the compute module (``arrow_engine``), which only tallies and assigns what it is given.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from alignment_mlflow.economics.core import ScoresError
from alignment_mlflow.economics.parquet_files import (
    FolderSchema,
    conform,
    folder_schema,
    scores_files,
)
from alignment_mlflow.tables.delta_features import refusal, unsupported

_HASH_CHUNK = 8 << 20


@dataclass
class ArrowScores:
    """Scores readable batch by batch, with a content digest that is cheap to get."""

    location: str
    kind: str  # "parquet", "delta" or "arrow"
    dataset: ds.Dataset
    _digest: Future[str] | str = field(repr=False, default="")
    folder: FolderSchema | None = None  # Parquet: one type per column across the files

    @property
    def columns(self) -> list[str]:
        return list(self.dataset.schema.names)

    @property
    def digest(self) -> str:
        d = self._digest
        return d if isinstance(d, str) else d.result()

    def batches(self, columns: Sequence[str], rows: int) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``rows`` rows (the engine passes its batch size). A file
        that cannot be decoded (a corrupt page or footer, a truncated file) is the user's input
        to fix, found while reading and before anything is written: exit 2 naming the file."""
        try:
            yield from self._batches(columns, rows)
        except (OSError, pa.ArrowInvalid) as exc:
            detail = " ".join(str(exc).split())[:300].rstrip(".")
            raise ScoresError(
                f"scores {self.location} cannot be read: {detail}. The data is damaged (a corrupt "
                "or truncated Parquet file); nothing was written: write the scores again"
            ) from exc

    def _batches(self, columns: Sequence[str], rows: int) -> Iterator[pa.RecordBatch]:
        if self.kind == "parquet":
            # File by file, row group by row group: the dataset scanner kept more and more of a
            # large file in its pool as the consumer fell behind (apache/arrow#39808; 452 MiB
            # against 136 MiB for 50M rows in bench/plan.py, for 5% more time). Pre-buffering is
            # off for the same reason: it cached a whole file's columns.
            schema = self.dataset.schema
            for path in self.dataset.files:
                with pq.ParquetFile(path, pre_buffer=False) as f:
                    for batch in f.iter_batches(rows, columns=list(columns)):
                        yield conform(batch, schema)
            return
        # Delta tables (partition values come from the log, not the files) and Arrow tables: the
        # dataset scanner, with little readahead and no pre-buffering.
        options = (
            {"fragment_scan_options": ds.ParquetFragmentScanOptions(pre_buffer=False)}
            if isinstance(self.dataset, ds.FileSystemDataset)
            and isinstance(self.dataset.format, ds.ParquetFileFormat)
            else {}
        )
        yield from self.dataset.to_batches(
            columns=list(columns),
            batch_size=rows,
            batch_readahead=2,
            fragment_readahead=1,
            **options,
        )


def _hash_files(files: Sequence[Path], root: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root) if f != root else f.name).encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def _hash_table(table: pa.Table) -> str:
    h = hashlib.sha256(str(table.schema).encode())
    for column in table.columns:
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    h.update(buf)
    return h.hexdigest()


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scores-digest")
    return _POOL


def open_scores(location: str | os.PathLike[str] | pa.Table) -> ArrowScores:
    """A Parquet file or folder, a Delta table path or URI, or an in-memory Arrow table."""
    if isinstance(location, pa.Table):
        return ArrowScores("<arrow table>", "arrow", ds.dataset(location), _hash_table(location))
    where = os.fspath(location)
    path = Path(where)
    if "://" not in where and not path.exists():
        raise ScoresError(
            f"scores {where} not found: pass a Parquet file or folder or a Delta table"
        )
    is_delta = "://" in where or (path / "_delta_log").is_dir()
    if is_delta:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            table = DeltaTable(where)
        except TableNotFoundError as exc:
            raise ScoresError(f"scores {where}: no Delta table there ({exc})") from exc
        found = unsupported(table)
        if found:
            raise ScoresError(refusal("scores table", where, found))
        uris = sorted(table.file_uris())
        digest = hashlib.sha256(
            f"{table.table_uri}\0{table.version()}\0".encode() + "\0".join(uris).encode()
        ).hexdigest()
        return ArrowScores(where, "delta", table.to_pyarrow_dataset(), digest)
    files = scores_files(path)
    if not files:
        raise ScoresError(f"scores folder {where} has no .parquet files")
    root = path if path.is_dir() else path.parent
    try:
        folder = folder_schema(files, root)
        dataset = ds.dataset([str(f) for f in files], format="parquet", schema=folder.schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ScoresError(f"scores {where} are not readable Parquet: {exc}") from exc
    hashing = _pool().submit(_hash_files, files, root)
    return ArrowScores(where, "parquet", dataset, hashing, folder)


def score_array(batch: pa.RecordBatch, score_column: str) -> pa.Array:
    """The score column as float64 numbers; anything else is the wrong --score-column."""
    s = batch.column(score_column)
    if pa.types.is_floating(s.type) or pa.types.is_integer(s.type) or pa.types.is_decimal(s.type):
        return s if s.type == pa.float64() else s.cast(pa.float64())
    raise ScoresError(
        f"score column {score_column!r} has type {s.type}; expected numbers (churn probabilities "
        "in [0, 1]); pass the right --score-column"
    )
