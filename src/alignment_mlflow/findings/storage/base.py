"""The one small interface every kind of findings location implements.

Callers never branch on the scheme: :func:`~alignment_mlflow.findings.storage.store_for` picks
the store.
Failures use built-in exceptions (``FileNotFoundError``, ``PermissionError``,
``IsADirectoryError``, ``NotADirectoryError``, ``OSError``) so every backend speaks the same
contract; :class:`ConflictError` is the one extra, for compare-and-swap writes.
"""

from __future__ import annotations

import hashlib
import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass

from alignment_mlflow.boundedio import FileTooLargeError


class ConflictError(Exception):
    """Raised by :meth:`Store.write_bytes` when the file changed since it was read."""


@dataclass(frozen=True)
class Entry:
    path: str
    name: str
    is_dir: bool
    size: int | None = None
    mtime: float | None = None  # seconds since the epoch


def check_size(path: str, size: int | None, max_bytes: int | None) -> None:
    """Refuse a file whose (known) size is over ``max_bytes``."""
    if max_bytes is not None and size is not None and size > max_bytes:
        raise FileTooLargeError(path, size, max_bytes)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store(ABC):
    """Read, list, stat, and write-if-unchanged; nothing else is needed for findings."""

    @abstractmethod
    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The file's bytes; with ``max_bytes``, refuse a larger file before reading it all
        (:class:`~alignment_mlflow.boundedio.FileTooLargeError`)."""

    @abstractmethod
    def write_bytes(self, path: str, data: bytes, *, expected_sha256: str | None) -> None:
        """Replace ``path`` with ``data`` if its current content hashes to ``expected_sha256``.

        ``expected_sha256=None`` writes unconditionally. Raises :class:`ConflictError` when the
        content changed (or the file vanished) since it was read.
        """

    @abstractmethod
    def list(self, folder: str) -> list[Entry]: ...

    @abstractmethod
    def stat(self, path: str) -> Entry: ...

    def check_writable(self, path: str) -> None:
        """Raise ``PermissionError``/``OSError`` when ``path`` could not be replaced, without
        changing it. Stores that can only find out by writing (REST APIs) accept by default."""
        return

    def join(self, folder: str, name: str) -> str:
        return posixpath.join(folder, name)

    def parent(self, path: str) -> str:
        return posixpath.dirname(path.rstrip("/")) or "/"
