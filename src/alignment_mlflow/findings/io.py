"""Findings I/O: find a findings file anywhere, read it, write the alignment back into it.

Backend errors are wrapped here, at the boundary, into the package's errors (naming what failed
and where), so callers see ``FindingsError`` for unusable input and ``StorageError`` for a storage
system that failed, never a raw SDK or OS error.
"""

from __future__ import annotations

import errno
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignment_mlflow.boundedio import FileTooLargeError, NotARegularFileError
from alignment_mlflow.errors import ConcurrentUpdateError, FindingsError, StorageError
from alignment_mlflow.findings.discovery import DiscoveryChoice, choose_findings
from alignment_mlflow.findings.document import (
    FINDINGS_SUFFIX,
    MAX_FINDINGS_BYTES,
    FindingsDocument,
    parse_findings,
)
from alignment_mlflow.findings.storage import ConflictError, Store, sha256, store_for
from alignment_mlflow.findings.writeback import apply_metadata


@dataclass(frozen=True)
class FindingsLocation:
    store: Store
    path: str
    discovery: DiscoveryChoice | None = None

    @property
    def display(self) -> str:
        """The location as messages and metadata show it (``dbfs:/...`` stays ``dbfs:/...``)."""
        return self.path


@dataclass(frozen=True)
class FindingsWriteResult:
    path: str
    changed: bool
    sha256_before: str
    sha256_after: str
    attempts: int


def _wrap(exc: OSError, what: str, where: str) -> Exception:
    if isinstance(exc, FileTooLargeError):
        return FindingsError(
            f"{what}: {where}: {exc.strerror} bytes ({MAX_FINDINGS_BYTES >> 20} MiB); "
            "is this the right file?"
        )
    if isinstance(exc, NotARegularFileError):
        return FindingsError(f"{what}: {where} {exc.strerror}; pass a findings file")
    if isinstance(exc, FileNotFoundError):
        return FindingsError(f"{what}: {where} does not exist; check the path")
    if isinstance(exc, PermissionError):
        return FindingsError(f"{what}: permission denied for {where} ({exc.strerror or exc})")
    if isinstance(exc, IsADirectoryError):
        return FindingsError(f"{what}: {where} is a folder where a file was expected")
    if exc.errno == errno.ENOSPC:
        return StorageError(f"{what}: disk full at {where}; the original file is intact")
    return StorageError(f"{what}: {where}: {exc}")


def locate_findings(
    location: str, *, profile: str | None = None, client: Any = None
) -> FindingsLocation:
    """A findings file, or the file discovery chooses in a folder."""
    store, path = store_for(location, profile=profile, client=client)
    try:
        entry = store.stat(path)
    except OSError as exc:
        raise _wrap(exc, "findings not found", location) from exc
    if not entry.is_dir:
        return FindingsLocation(store, path)
    try:
        entries = store.list(path)
    except OSError as exc:
        raise _wrap(exc, "cannot list findings folder", location) from exc
    choice = choose_findings(entries, location)
    return FindingsLocation(store, choice.chosen.path, choice)


def read_findings(loc: FindingsLocation) -> FindingsDocument:
    try:
        data = loc.store.read_bytes(loc.path, max_bytes=MAX_FINDINGS_BYTES)
    except OSError as exc:
        raise _wrap(exc, "cannot read findings", loc.display) from exc
    return parse_findings(data, loc.display)


def read_related_findings(loc: FindingsLocation, doc: FindingsDocument) -> list[FindingsDocument]:
    """The other single-dataset findings files beside ``doc`` (unreadable ones are skipped)."""
    folder = loc.store.parent(loc.path)
    try:
        entries = loc.store.list(folder)
    except OSError:
        return []
    out = []
    for e in entries:
        if e.is_dir or not e.name.endswith(FINDINGS_SUFFIX) or "multi_dataset" in e.name:
            continue
        if e.path == loc.path:
            continue
        try:
            data = loc.store.read_bytes(e.path, max_bytes=MAX_FINDINGS_BYTES)
            out.append(parse_findings(data, e.path))
        except (OSError, FindingsError):
            continue
    return out


def check_writable(loc: FindingsLocation) -> None:
    """Refuse, before anything is written anywhere, findings that could not be written back: a
    Delta commit and an MLflow run must not precede a findings write that cannot happen."""
    try:
        loc.store.check_writable(loc.path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FindingsError(
            f"findings {loc.display} cannot be written back ({reason}); nothing was written: "
            "make the file and its folder writable for this user, or copy the findings to a "
            "writable folder and pass that"
        ) from exc


def _judged(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a run judges in a findings file: everything but ``metadata``."""
    return {k: v for k, v in data.items() if k != "metadata"}


def _reread(loc: FindingsLocation) -> FindingsDocument:
    try:
        return read_findings(loc)
    except FindingsError as exc:
        if not isinstance(exc.__cause__, FileNotFoundError):
            raise
        raise FindingsError(
            f"findings {loc.display} was moved or deleted while the run ran (after it was read "
            "and judged); nothing was written to it or to any findings file (the run is marked "
            "FAILED). Rerun with the findings' new path"
        ) from exc


def update_findings_metadata(
    loc: FindingsLocation,
    doc: FindingsDocument,
    updates: Mapping[str, Any],
    *,
    max_attempts: int = 5,
) -> FindingsWriteResult:
    """Write ``updates`` under ``metadata`` without losing anybody else's change.

    The write is compare-and-swap on the content we read: if someone changed the file's
    ``metadata`` since (another run, the framework's own keys), we re-read it, re-apply our keys
    to their version and try again (bounded). What the run judged is the rest of the file, read
    once: a file moved away after reading, or another file (or other data) in its place, is not
    the one judged, so it is refused (``FindingsError``, exit 2) with nothing written to it.
    """
    text, expected, loaded = doc.text, doc.sha256, doc.data
    judged = _judged(doc.data)
    for attempt in range(1, max_attempts + 1):
        new_text = apply_metadata(text, updates, data=loaded)
        if new_text == text:
            return FindingsWriteResult(loc.display, False, expected, expected, attempt)
        data = new_text.encode("utf-8")
        try:
            loc.store.write_bytes(loc.path, data, expected_sha256=expected)
            return FindingsWriteResult(loc.display, True, expected, sha256(data), attempt)
        except ConflictError:
            time.sleep(random.uniform(0.01, 0.05) * attempt)
            fresh = _reread(loc)
            if _judged(fresh.data) != judged:
                raise FindingsError(
                    f"findings {loc.display} was replaced, or its data rewritten, while the run "
                    "ran: it is not the file this run judged, so nothing was written to it (the "
                    "run is marked FAILED). Rerun to judge the file that is there now"
                ) from None
            text, expected, loaded = fresh.text, fresh.sha256, fresh.data
        except OSError as exc:
            raise _wrap(exc, "cannot write findings", loc.display) from exc
    raise ConcurrentUpdateError(
        f"{loc.display} kept changing while we wrote the alignment ({max_attempts} attempts); "
        "rerun when the other writer is done"
    )
