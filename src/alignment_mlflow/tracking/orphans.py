"""Runs that will never finish: a run stays RUNNING when its process was killed or its tracking
server died before it could close it. The next run of the same alignment closes them, by a rule
that works across machines (a lease), not only for dead processes on this host. The same rule
decides when a killed plan's uncommitted part files may be removed (``writer_gone``)."""

from __future__ import annotations

import os
from typing import Any

from alignment_mlflow.tagkeys import hidden

OWNER_TAG = hidden("owner")  # host:pid of the process that runs the alignment


def owner() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


LEASE_TAG = hidden("lease_seconds")
DEFAULT_LEASE_SECONDS = 3600  # an alignment takes seconds; an hour RUNNING means its process died


def lease_seconds() -> int:
    raw = os.environ.get("ALIGNMENT_RUN_LEASE_SECONDS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_LEASE_SECONDS


def orphan_reason(run: Any, host: str, now_ms: int) -> str | None:
    """Why a RUNNING run of this alignment is orphaned, or None while it may still be alive.

    Its lease (``LEASE_TAG`` from its start) has run out, whichever machine ran it:
    job clusters never come back to close their runs. Before that, only a run whose process on
    this machine is gone is closed; a live process or another machine's run is left alone."""
    tags = run.data.tags
    lease = str(tags.get(LEASE_TAG, ""))
    lease_ms = (int(lease) if lease.isdigit() else lease_seconds()) * 1000
    owner = str(tags.get(OWNER_TAG, ""))
    owner_host, _, pid = owner.rpartition(":")
    return writer_gone(
        owner_host, pid, started_ms=int(run.info.start_time or 0), lease_ms=lease_ms, host=host,
        now_ms=now_ms,
    )  # fmt: skip


def writer_gone(
    owner_host: str, pid: str, *, started_ms: int, lease_ms: int, host: str, now_ms: int
) -> str | None:
    """The lease rule for anything a process leaves behind (a run, a file): gone when its lease
    ran out, whichever machine it ran on; before that only when it ran on ``host`` and its
    process no longer exists. None while it may still be alive."""
    if now_ms - started_ms > lease_ms:
        return f"orphaned: still RUNNING {lease_ms // 1000}s after it started (its lease)"
    if owner_host != host or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return f"orphaned: process {owner_host}:{pid} ended without finishing"
    except PermissionError:
        return None  # alive, owned by someone else
    return None
