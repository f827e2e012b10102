"""A real in-memory store: the reference backend the shared storage tests run against."""

from __future__ import annotations

import errno
import posixpath
import threading
import time

from alignment_mlflow.findings.storage.base import ConflictError, Entry, Store, check_size, sha256


class MemoryStore(Store):
    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _norm(path: str) -> str:
        return posixpath.normpath("/" + path.lstrip("/"))

    def _is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return path == "/" or any(p.startswith(prefix) for p in self._files)

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        p = self._norm(path)
        if p in self._files:
            check_size(path, len(self._files[p][0]), max_bytes)
            return self._files[p][0]
        if self._is_dir(p):
            raise IsADirectoryError(errno.EISDIR, "is a folder", path)
        raise FileNotFoundError(errno.ENOENT, "no such file", path)

    def stat(self, path: str) -> Entry:
        p = self._norm(path)
        if p in self._files:
            data, mtime = self._files[p]
            return Entry(p, posixpath.basename(p), False, len(data), mtime)
        if self._is_dir(p):
            return Entry(p, posixpath.basename(p), True)
        raise FileNotFoundError(errno.ENOENT, "no such file", path)

    def list(self, folder: str) -> list[Entry]:
        f = self._norm(folder)
        if f in self._files:
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", folder)
        if not self._is_dir(f):
            raise FileNotFoundError(errno.ENOENT, "no such folder", folder)
        prefix = f.rstrip("/") + "/"
        names: dict[str, Entry] = {}
        for p in self._files:
            if p.startswith(prefix):
                head = p[len(prefix) :].split("/", 1)[0]
                child = prefix + head
                names[head] = self.stat(child)
        return [names[n] for n in sorted(names)]

    def write_bytes(self, path: str, data: bytes, *, expected_sha256: str | None) -> None:
        p = self._norm(path)
        with self._lock:
            current = self._files.get(p)
            if expected_sha256 is not None and (
                current is None or sha256(current[0]) != expected_sha256
            ):
                raise ConflictError(f"{path} changed since it was read")
            if current is not None:
                self._files[p + ".bak"] = current
            self._files[p] = (bytes(data), time.time())
