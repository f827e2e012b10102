"""Where a Delta table will be written, checked before anything is: a table name as given, a
path made absolute, a URI delta-rs can write, nothing on a cluster's ephemeral disk. Shared by
the tiers table and the plan's assignments."""

from __future__ import annotations

import os
import re
from pathlib import Path

from alignment_mlflow.errors import TargetError
from alignment_mlflow.tables.names import is_table_name, parse_table_name

#: URI schemes delta-rs writes to (its object stores); anything else is refused before a write.
DELTA_RS_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "azure", "r2")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(.*)$")  # two letters or more: not C:\\


def _on_databricks() -> bool:
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def _local_path(target: str) -> Path | None:
    if target.startswith("file://"):
        return Path(target[len("file://") :])
    if _SCHEME.match(target):
        return None
    return Path(os.path.expanduser(target))


def _check_uri(target: str) -> None:
    m = _SCHEME.match(target)
    if not m:
        return
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "dbfs":
        if not _on_databricks():
            raise TargetError(
                f"tiers table {target!r}: dbfs:/ paths are written on a Databricks cluster only; "
                "off a cluster pass a local path or a cloud URI (s3://, abfss://, gs://)"
            )
        return
    if scheme not in DELTA_RS_SCHEMES:
        raise TargetError(
            f"tiers table {target!r}: unsupported scheme {scheme}://; pass a local path, "
            f"catalog.schema.table, or a URI with one of {', '.join(DELTA_RS_SCHEMES)}"
        )
    if not rest.startswith("//") or not rest[2:].strip("/"):
        raise TargetError(
            f"tiers table {target!r} is not a complete URI: expected {scheme}://bucket/path"
        )


def _check_databricks_target(target: str) -> None:
    """On Databricks the driver's disk is ephemeral: a tiers table there would vanish with the
    cluster. Only a table name, a Volume path, DBFS or a cloud URI survive."""
    local = _local_path(target)
    if local is None or str(local).startswith(("/Volumes/", "/dbfs/")):
        return
    raise TargetError(
        f"tiers table {target!r} is on the cluster's local disk, which is deleted with the "
        "cluster: on Databricks pass --tiers-table catalog.schema.table (Unity Catalog) or a "
        "/Volumes/<catalog>/<schema>/<volume>/... path"
    )


def resolved_target(target: str) -> str:
    """The table as it will be recorded: a table name as given, a path made absolute."""
    return target if is_table_name(target) else _uri(target)


def _uri(target: str) -> str:
    if target.startswith("dbfs:") and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "/dbfs/" + target[len("dbfs:") :].lstrip("/")
    local = _local_path(target)
    return str(local.resolve()) if local is not None else target


def check_tiers_target(target: str) -> None:
    """Reject a malformed target before anything is written."""
    if not target.strip():
        raise TargetError("empty tiers table: pass a path or catalog.schema.table")
    if is_table_name(target):
        parse_table_name(target)
        return
    _check_uri(target)
    if _on_databricks():
        _check_databricks_target(target)
    local = _local_path(target)
    if local is None:
        return
    for p in (local, *local.parents):
        if p.exists() and not p.is_dir():
            raise TargetError(
                f"tiers table {target!r}: {p} is a file, expected a folder for a Delta table"
            )
        if p.exists():
            break
