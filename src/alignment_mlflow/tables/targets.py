"""Where a Delta table will be written, checked before anything is: a table name as given, a
path made absolute, a URI delta-rs can write, nothing on a cluster's ephemeral disk. Shared by
the tiers table and the plan's assignments."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alignment_mlflow.errors import TargetError
from alignment_mlflow.tables.names import TableName, is_table_name, parse_table_name

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
        raise TargetError(
            f"tiers table {target!r}: dbfs:/ paths are not written (delta-rs cannot commit "
            "through DBFS); on Databricks pass catalog.schema.table, elsewhere a local path or a "
            "cloud URI (s3://, abfss://, gs://)"
        )
    if scheme not in DELTA_RS_SCHEMES:
        raise TargetError(
            f"tiers table {target!r}: unsupported scheme {scheme}://; pass a local path, "
            f"catalog.schema.table, or a URI with one of {', '.join(DELTA_RS_SCHEMES)}"
        )
    if not rest.startswith("//") or not rest[2:].strip("/"):
        raise TargetError(
            f"tiers table {target!r} is not a complete URI: expected {scheme}://bucket/path"
        )


def _check_databricks_target(target: str, option: str) -> None:
    """On Databricks only a Unity Catalog table is written. A path would go to delta-rs, which
    commits by rename or hard link: the /Volumes mount refuses both (ENOSYS, delta-io/delta-rs
    #2540) and DBFS's FUSE mount is no better; the driver's disk is deleted with the cluster."""
    raise TargetError(
        f"{option} {target!r} is a path: on Databricks pass {option} catalog.schema.table "
        "(a Unity Catalog table written with the job's Spark session); delta-rs cannot commit "
        "through the /Volumes or /dbfs mounts (no rename or hard link there)"
    )


@dataclass(frozen=True)
class Target:
    """A checked table target, resolved once (``resolve_target``) and passed down, so the
    collision check, the warnings, the run's tags and the writer agree on one reading of it.

    ``value`` is the table as written and recorded: a table name as given, a local path made
    absolute, a URI as given. ``name`` is the parsed name of a ``table``."""

    kind: Literal["path", "uri", "table"]
    value: str
    given: str  # as the user wrote it, for messages and the dry run's plan
    name: TableName | None = None

    @property
    def is_table(self) -> bool:
        return self.kind == "table"


def resolve_target(target: str, option: str = "--tiers-table") -> Target:
    """Reject a malformed target before anything is written (``option`` names it in messages),
    and resolve a good one into a :class:`Target`."""
    if not target.strip():
        raise TargetError("empty tiers table: pass a path or catalog.schema.table")
    if is_table_name(target):
        return Target("table", target, target, parse_table_name(target))
    if _on_databricks():
        _check_databricks_target(target, option)
    _check_uri(target)
    local = _local_path(target)
    if local is None:
        return Target("uri", target, target)
    for p in (local, *local.parents):
        if p.exists() and not p.is_dir():
            raise TargetError(
                f"tiers table {target!r}: {p} is a file, expected a folder for a Delta table"
            )
        if p.exists():
            break
    return Target("path", str(local.resolve()), target)


def as_target(target: str | Target, option: str = "--tiers-table") -> Target:
    """A :class:`Target` as is; a string checked and resolved (callers outside a pipeline)."""
    return target if isinstance(target, Target) else resolve_target(target, option)


def read_target(target: str | Target) -> Target:
    """A :class:`Target` as is; a string read without the checks (for reading a table that
    exists, as ``spark_for``, ``check_project`` and ``tiers_version`` always have)."""
    if isinstance(target, Target):
        return target
    if is_table_name(target):
        return Target("table", target, target, parse_table_name(target))
    local = _local_path(target)
    return Target("uri", target, target) if local is None else Target("path", _uri(target), target)


def resolved_target(target: str) -> str:
    """The table as it will be recorded: a table name as given, a path made absolute."""
    return target if is_table_name(target) else _uri(target)


def _uri(target: str) -> str:
    local = _local_path(target)
    return str(local.resolve()) if local is not None else target


def check_tiers_target(target: str, option: str = "--tiers-table") -> None:
    """Reject a malformed target before anything is written (``option`` names it in messages)."""
    resolve_target(target, option)
