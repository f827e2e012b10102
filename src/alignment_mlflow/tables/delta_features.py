"""Delta table features the Arrow path cannot honour, found before anything is read or written.

delta-rs' ``to_pyarrow_dataset`` (1.6) reads a table's Parquet files as they are: with column
mapping (as Spark and Databricks write renamed or dropped columns) the files hold physical names
such as ``col-5f1c...`` and every column reads as null; with deletion vectors the rows a
``DELETE`` removed are read again. The assignments writer streams files with logical names and
carries no deletion vectors, so a table with either is not one it can write truthfully. Such a
table is refused for what it is, with what to do instead; never read as nulls or rewritten.
"""

from __future__ import annotations

from typing import Any

#: Reader features whose tables the Arrow path reads correctly.
_READABLE = frozenset({"timestampNtz"})


def unsupported(table: Any) -> list[str]:
    """What about ``table`` (a ``deltalake.DeltaTable``) the Arrow path cannot honour."""
    protocol = table.protocol()
    config = table.metadata().configuration or {}
    features = set(protocol.reader_features or [])
    found: list[str] = []
    mode = config.get("delta.columnMapping.mode", "none")
    if mode != "none" or "columnMapping" in features:
        found.append(f"column mapping (delta.columnMapping.mode = {mode})")
    if "deletionVectors" in features:
        found.append("deletion vectors (reader feature deletionVectors)")
    other = sorted(features - _READABLE - {"columnMapping", "deletionVectors"})
    if other:
        found.append("reader features " + ", ".join(other))
    if protocol.min_reader_version > 3:
        found.append(f"reader version {protocol.min_reader_version}")
    return found


def refusal(what: str, uri: str, found: list[str]) -> str:
    return (
        f"{what} {uri} uses {' and '.join(found)}, which the Arrow path cannot read or write "
        "truthfully (renamed columns would read as nulls, deleted rows as live); nothing was "
        "written. Pass a catalog.schema.table name to plan with Spark, or a copy without them "
        "(for example CREATE TABLE ... AS SELECT, or ALTER TABLE ... DROP FEATURE)"
    )
