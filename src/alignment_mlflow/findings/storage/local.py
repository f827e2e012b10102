"""Local files, and the DBFS/Volumes FUSE mounts on a Databricks cluster.

A write is a temp file renamed over the target. The Unity Catalog volumes FUSE mount answers
``rename``/``link`` with ENOSYS (earth-mover/icechunk#2341), and other mounts refuse with EPERM or
EXDEV; there the new bytes are written over the target in place, after the old content was copied
to ``<file>.bak`` byte for byte (not linked). That write is not atomic: a crash in it can leave a
torn file, and ``.bak`` holds the previous content.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from alignment_mlflow.boundedio import read_bounded
from alignment_mlflow.findings.storage.base import ConflictError, Entry, Store, sha256

# errno values meaning "this file system cannot rename here", not "you may not write here"
RENAME_UNSUPPORTED = frozenset(
    {errno.ENOSYS, errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP}
)


def _write_in_place(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _replace(tmp: str, target: Path, data: bytes) -> None:
    """Rename ``tmp`` over ``target``; where the mount cannot rename, write ``data`` in place."""
    try:
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno not in RENAME_UNSUPPORTED:
            raise
        _write_in_place(target, data)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise check-and-rename across processes with a sidecar lock file.

    The lock file's name does not match the framework's ``*_findings.yaml`` glob. On a mount that
    does not support ``flock`` (some FUSE mounts), the write proceeds without it.
    """
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_target(path: str) -> Path:
    """The file a write must replace: through any symlinks, so a linked findings file stays a
    link (to the updated file) instead of being replaced by a regular file."""
    return Path(os.path.realpath(path))


def _keep_mode(tmp: str, original: Path) -> None:
    """Give ``tmp`` the mode (and, where allowed, the owner) of the file it replaces or backs up:
    ``mkstemp`` makes 0600 files owned by whoever runs the job (root, on some clusters). A new
    file gets 0644. Best effort: some mounts refuse ``chmod``/``chown``."""
    try:
        st = original.stat()
    except OSError:
        st = None
    if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(OSError):
            os.chown(tmp, st.st_uid, st.st_gid)  # before chmod: chown may clear setgid bits
    with contextlib.suppress(OSError):
        os.chmod(tmp, st.st_mode & 0o7777 if st is not None else 0o644)


class LocalStore(Store):
    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Only regular files, never more than ``max_bytes`` (a FIFO or device is refused)."""
        return read_bounded(path, sys.maxsize - 1 if max_bytes is None else max_bytes)

    def check_writable(self, path: str) -> None:
        """What the write needs, tried without changing anything: open the file for writing
        (refused for a read-only or immutable file) and create and remove a temporary file
        beside it (refused for a read-only folder or file system), where the new file and the
        ``.bak`` are made."""
        target = _write_target(path)
        with open(target, "r+b"):
            pass
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=target.parent)
        os.close(fd)
        os.unlink(tmp)

    def stat(self, path: str) -> Entry:
        p = Path(path)
        st = p.stat()
        return Entry(str(p), p.name, p.is_dir(), st.st_size, st.st_mtime)

    def list(self, folder: str) -> list[Entry]:
        p = Path(folder)
        if not p.exists():
            raise FileNotFoundError(errno.ENOENT, "no such folder", folder)
        if not p.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", folder)
        out = []
        for child in sorted(p.iterdir()):
            with contextlib.suppress(OSError):
                st = child.stat()
                out.append(Entry(str(child), child.name, child.is_dir(), st.st_size, st.st_mtime))
        return out

    def write_bytes(self, path: str, data: bytes, *, expected_sha256: str | None) -> None:
        """Atomic replace: temp file in the same folder, fsync, rename; old content to ``.bak``.

        A crash at any point leaves the old or the new file, never a torn one, except on a mount
        that cannot rename (see the module docstring), where the write falls back to in place.
        """
        target = _write_target(path)
        folder = target.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            with _locked(target):
                current = target.read_bytes() if target.exists() else None
                if expected_sha256 is not None and (
                    current is None or sha256(current) != expected_sha256
                ):
                    raise ConflictError(f"{path} changed since it was read")
                if current is not None:
                    self._write_backup(target, current)
                _keep_mode(tmp, target)
                _replace(tmp, target, data)
            self._fsync_dir(folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _write_backup(target: Path, content: bytes) -> None:
        bak = target.with_name(target.name + ".bak")
        fd, tmp = tempfile.mkstemp(prefix=f".{bak.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            _keep_mode(tmp, target)
            _replace(tmp, bak, content)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _fsync_dir(folder: Path) -> None:
        with contextlib.suppress(OSError):
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
