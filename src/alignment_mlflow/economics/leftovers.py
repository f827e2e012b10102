"""Part files a killed plan left behind, and the rule that lets the next plan remove them.

The assignments writer streams Parquet files into the project's partition folder and commits
them afterwards; a plan killed in between (SIGKILL, a node lost) leaves files no Delta commit
references. Readers never see them, but they take space and ``VACUUM`` alone would find them.
The next plan of the project removes them, and only them:

- only in the project's own partition folder, never below it nor in another project's;
- only files named as this writer names them: the name carries the writer (a hash of its host
  and its pid), so a file of another tool, or of Spark, is never touched;
- only files no entry of the Delta log references (``add`` or ``remove``, in any commit or
  checkpoint still in ``_delta_log``): a file a commit removed is still needed for time travel;
- only when its writer is gone, by the lease rule of runs (``tracking.orphans.writer_gone``): its
  process on this host no longer exists, or its lease (from the file's last write) ran out. A
  plan writing right now, here or on another machine, keeps its files.

When the log cannot be read, nothing is removed: keeping an orphan is safe, deleting a live
file is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

from alignment_mlflow.tracking import orphans

_NAME = re.compile(r"part-\d+-[0-9a-f-]{36}-w([0-9a-f]{10})p(\d+)\.c000\.snappy\.parquet")


def _host_id(host: str) -> str:
    """The host as a file name may carry it: a hash, so no machine name is written to storage."""
    return hashlib.sha256(host.encode("utf-8")).hexdigest()[:10]


def part_name(index: int) -> str:
    """A new part file's name: unique (a uuid) and naming its writer (host hash and pid)."""
    return (
        f"part-{index:05d}-{uuid.uuid4()}-w{_host_id(socket.gethostname())}p{os.getpid()}"
        ".c000.snappy.parquet"
    )


def _log_paths(root: Path) -> set[str] | None:
    """The file names every ``add`` and ``remove`` in the Delta log references; None when some
    part of the log cannot be read (then nothing may be called unreferenced)."""
    import pyarrow.parquet as pq

    log = root / "_delta_log"
    names: set[str] = set()
    try:
        entries = sorted(log.iterdir())
    except FileNotFoundError:
        return names
    except OSError:
        return None
    try:
        for entry in entries:
            if entry.name.endswith(".json"):
                for line in entry.read_text(encoding="utf-8").splitlines():
                    action = json.loads(line) if line.strip() else {}
                    for kind in ("add", "remove", "cdc"):
                        path = (action.get(kind) or {}).get("path")
                        if isinstance(path, str):
                            names.add(unquote(path).rsplit("/", 1)[-1])
            elif ".checkpoint" in entry.name and entry.name.endswith(".parquet"):
                table = pq.read_table(entry)
                for kind in ("add", "remove"):
                    if kind in table.column_names:
                        for item in table.column(kind).to_pylist():
                            if item and isinstance(item.get("path"), str):
                                names.add(unquote(item["path"]).rsplit("/", 1)[-1])
    except (OSError, ValueError, AttributeError):
        return None
    return names


def remove_orphan_parts(root: Path, folder: str) -> list[str]:
    """Remove the part files in ``root/folder`` that a plan killed before its commit left; returns
    their names. See the module's docstring for what is never removed."""
    try:
        files = [p for p in (root / folder).iterdir() if _NAME.fullmatch(p.name)]
    except OSError:
        return []
    host, now_ms = _host_id(socket.gethostname()), int(time.time() * 1000)
    lease_ms = orphans.lease_seconds() * 1000
    candidates = []
    for path in files:
        match = _NAME.fullmatch(path.name)
        assert match is not None
        try:
            started_ms = int(path.stat().st_mtime * 1000)
        except OSError:
            continue
        gone = orphans.writer_gone(
            match.group(1), match.group(2), started_ms=started_ms, lease_ms=lease_ms, host=host,
            now_ms=now_ms,
        )  # fmt: skip
        if gone:
            candidates.append(path)
    if not candidates:
        return []
    referenced = _log_paths(root)
    if referenced is None:
        return []
    removed = []
    for path in candidates:
        if path.name not in referenced:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return removed
