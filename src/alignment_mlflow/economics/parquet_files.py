"""Which files of a scores folder are scores, and one schema for all of them.

A folder is read as Spark and pyarrow's dataset discovery read one: files and folders whose names
start with ``_`` or ``.`` are not data (``_temporary/`` and ``.staging/`` hold a writer's
uncommitted attempts, ``_SUCCESS`` and ``.crc`` files its bookkeeping), and a folder holding a
``_delta_log`` is a Delta table of its own (the assignments table written beside the scores, say),
whose files are not plain scores.

The files of one folder must agree on the columns a plan reads: a customer id typed ``int64`` in
one file and ``string`` in another would make ``1`` and ``"1"`` two customers, and an ``int32``
file before an ``int64`` one would fix the id type too narrow for the ids that follow. Integer
widths and string kinds are widened to one type; anything else is refused, naming the files,
before a single row is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def scores_files(path: Path) -> list[Path]:
    """The Parquet files a reader would read under ``path`` (or ``path`` itself)."""
    if not path.is_dir():
        return [path]
    found: list[Path] = []
    for folder, subfolders, names in os.walk(path):
        here = Path(folder)
        subfolders[:] = sorted(
            d
            for d in subfolders
            if not d.startswith((".", "_")) and not (here / d / "_delta_log").is_dir()
        )
        found += [
            here / n for n in names if n.endswith(".parquet") and not n.startswith((".", "_"))
        ]
    return sorted(found)


@dataclass(frozen=True)
class FolderSchema:
    """The folder's columns with one type each, and the columns whose files disagree."""

    schema: pa.Schema
    conflicts: dict[str, str] = field(default_factory=dict)

    def problems(self, columns: Sequence[str]) -> list[str]:
        return [self.conflicts[c] for c in columns if c in self.conflicts]


def folder_schema(files: Sequence[Path], root: Path) -> FolderSchema:
    """Read every file's footer (not its rows) and reconcile the column types."""
    seen: dict[str, dict[pa.DataType, list[str]]] = {}
    missing: dict[str, list[str]] = {}
    schemas = [(_name(f, root), pq.read_schema(f)) for f in files]
    order: list[str] = []
    for name, schema in schemas:
        for f in schema:
            if f.name not in seen:
                order.append(f.name)
            seen.setdefault(f.name, {}).setdefault(f.type, []).append(name)
    for column in order:
        for name, schema in schemas:
            if column not in schema.names:
                missing.setdefault(column, []).append(name)
    fields: list[pa.Field] = []
    conflicts: dict[str, str] = {}
    for column in order:
        kinds = seen[column]
        if column in missing:
            conflicts[column] = (
                f"column {column!r} is missing from {_few(missing[column])} "
                f"but present in {_few([n for ns in kinds.values() for n in ns])}"
            )
        wide = _widest(list(kinds))
        if wide is None:
            wide = next(iter(kinds))
            conflicts.setdefault(
                column,
                f"column {column!r} has types that do not mix: "
                + "; ".join(f"{t} in {_few(ns)}" for t, ns in kinds.items())
                + ". Write every file with one type for it",
            )
        fields.append(pa.field(column, wide))
    return FolderSchema(pa.schema(fields), conflicts)


def _widest(types: list[pa.DataType]) -> pa.DataType | None:
    if len(types) == 1:
        return types[0]
    if all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in types):
        return pa.large_string() if any(pa.types.is_large_string(t) for t in types) else pa.string()
    signed = all(pa.types.is_signed_integer(t) for t in types)
    small_unsigned = all(
        pa.types.is_signed_integer(t) or (pa.types.is_unsigned_integer(t) and t.bit_width < 64)
        for t in types
    )
    if signed or small_unsigned:
        return pa.int64()
    if all(pa.types.is_floating(t) for t in types):
        return pa.float64()
    return None


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with the folder's types (a no-op for files that already have them)."""
    if all(batch.schema.field(n).type == schema.field(n).type for n in batch.schema.names):
        return batch
    columns = [
        col if col.type == schema.field(n).type else col.cast(schema.field(n).type)
        for n, col in zip(batch.schema.names, batch.columns, strict=True)
    ]
    return pa.record_batch(columns, names=batch.schema.names)


def _name(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path != root else path.name


def _few(names: list[str], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
