"""Delta tables on paths and URIs through deltalake (delta-rs): opening one that may not exist
yet, its current version. Shared by the tiers and the plan's assignments."""

from __future__ import annotations

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError


def open_table(uri: str) -> DeltaTable | None:
    """The table at ``uri``, or None when there is none yet."""
    try:
        return DeltaTable(uri)
    except TableNotFoundError:
        return None


def current_version(uri: str) -> int | None:
    table = open_table(uri)
    return None if table is None else int(table.version())
