"""Reading a local file without trusting its size or its type.

A path can name a device (``/dev/zero`` never ends), a FIFO (opening it blocks until a writer
comes) or a sparse file of terabytes. Checking the size after reading the whole file is too late,
so the type and size are checked on the open descriptor first (``O_NONBLOCK``: a FIFO cannot make
the open wait) and at most ``limit + 1`` bytes are ever read (a file growing while we read it is
still caught).
"""

from __future__ import annotations

import errno
import os
import stat


class NotARegularFileError(OSError):
    """Raised for a FIFO, device, socket or anything else that is not a regular file."""


class FileTooLargeError(OSError):
    """Raised when a file holds more than the limit; ``size`` is what was seen (at least)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(errno.EFBIG, f"file is {size:,} bytes, over the limit of {limit:,}", path)


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words for an error message."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file ``path``, refusing anything else or more than ``limit``.

    Raises ``FileNotFoundError``/``PermissionError`` as ``open`` does, ``IsADirectoryError`` for
    a folder, :class:`NotARegularFileError` and :class:`FileTooLargeError`.
    """
    where = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(where, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", where)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFileError(errno.EINVAL, f"is {file_kind(st.st_mode)}", where)
        if st.st_size > limit:
            raise FileTooLargeError(where, st.st_size, limit)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileTooLargeError(where, total, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)
