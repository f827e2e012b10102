"""DBFS (``dbfs:/``) and Unity Catalog volumes (``/Volumes/``) off-cluster, via databricks-sdk.

On a cluster both are FUSE mounts and :class:`~alignment_mlflow.findings.storage.local.LocalStore`
is used instead. The workspace client is created on first use, not in the constructor, so building
a store never touches the network or the credential chain.

Compare-and-swap over REST is best effort: the content hash is re-read right before the upload,
but neither API offers a conditional write, so a writer landing between that read and the upload
can still be overwritten. The window is one round trip.
"""

from __future__ import annotations

import base64
import errno
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

try:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated
    from databricks.sdk.errors.base import DatabricksError
    from databricks.sdk.service.files import DbfsAPI, FilesAPI
except ImportError as exc:  # pragma: no cover - databricks-sdk is a runtime dependency
    raise ImportError(
        "dbfs:/ and /Volumes/ paths off a cluster need databricks-sdk: pip install databricks-sdk"
    ) from exc

from alignment_mlflow.findings.storage.base import (
    ConflictError,
    Entry,
    Store,
    check_size,
    sha256,
)

T = TypeVar("T")
_DBFS_CHUNK = 1 << 20  # the DBFS API moves at most 1 MB per call


class DatabricksStore(Store):
    def __init__(self, *, profile: str | None = None, client: Any = None) -> None:
        self._profile = profile
        self._client = client

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = WorkspaceClient(profile=self._profile)
        return self._client

    def _host(self) -> str:
        try:
            return str(self.client.config.host)
        except Exception:
            return "<unknown host>"

    @contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        try:
            yield
        except NotFound as exc:
            raise FileNotFoundError(errno.ENOENT, f"not found on {self._host()}", path) from exc
        except (PermissionDenied, Unauthenticated) as exc:
            raise PermissionError(
                errno.EACCES,
                f"{self._host()} refused access ({exc}); check DATABRICKS_HOST/DATABRICKS_TOKEN "
                "or pass --profile with a ~/.databrickscfg profile that can read it",
                path,
            ) from exc
        except DatabricksError as exc:
            raise OSError(errno.EIO, f"{self._host()}: {exc}", path) from exc

    def _call(self, path: str, fn: Callable[[], T]) -> T:
        with self._errors(path):
            return fn()

    @staticmethod
    def _is_volume(path: str) -> bool:
        return path.startswith("/Volumes/")

    @staticmethod
    def _dbfs_path(path: str) -> str:
        return path[len("dbfs:") :] if path.startswith("dbfs:") else path

    def _dbfs(self) -> DbfsAPI:
        return DbfsAPI(self.client.api_client)

    def _files(self) -> FilesAPI:
        return FilesAPI(self.client.api_client)

    # -- Store ------------------------------------------------------------------------------
    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        if self._is_volume(path):
            if max_bytes is not None:
                check_size(path, self.stat(path).size, max_bytes)
            resp = self._call(path, lambda: self._files().download(path))
            if resp.contents is None:
                return b""
            data: bytes = resp.contents.read(-1 if max_bytes is None else max_bytes + 1)
            check_size(path, len(data), max_bytes)
            return data
        entry = self.stat(path)
        if entry.is_dir:
            raise IsADirectoryError(errno.EISDIR, "is a folder", path)
        check_size(path, entry.size, max_bytes)
        dbfs, p = self._dbfs(), self._dbfs_path(path)
        out = bytearray()
        while True:
            offset = len(out)
            chunk = self._call(
                path,
                lambda offset=offset: dbfs.read(p, offset=offset, length=_DBFS_CHUNK),  # type: ignore[misc]
            )
            data = base64.b64decode(chunk.data or "")
            out += data
            check_size(path, len(out), max_bytes)
            if not data or len(data) < _DBFS_CHUNK:
                return bytes(out)

    def stat(self, path: str) -> Entry:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if self._is_volume(path):
            files = self._files()
            try:
                with self._errors(path):
                    meta = files.get_metadata(path)
                mtime = None
                if meta.last_modified:
                    mtime = parsedate_to_datetime(meta.last_modified).timestamp()
                return Entry(path, name, False, meta.content_length, mtime)
            except FileNotFoundError:
                self._call(path, lambda: files.get_directory_metadata(path))
                return Entry(path, name, True)
        info = self._call(path, lambda: self._dbfs().get_status(self._dbfs_path(path)))
        mt = info.modification_time / 1000 if info.modification_time else None
        return Entry(path, name, bool(info.is_dir), info.file_size, mt)

    def list(self, folder: str) -> list[Entry]:
        out = []
        if self._is_volume(folder):
            items = self._call(
                folder, lambda: list(self._files().list_directory_contents(folder.rstrip("/")))
            )
            for e in items:
                mt = e.last_modified / 1000 if e.last_modified else None
                p = e.path or f"{folder.rstrip('/')}/{e.name}"
                out.append(
                    Entry(p, e.name or p.rsplit("/", 1)[-1], bool(e.is_directory), e.file_size, mt)
                )
        else:
            prefix = "dbfs:" if folder.startswith("dbfs:") else ""
            items2 = self._call(folder, lambda: list(self._dbfs().list(self._dbfs_path(folder))))
            for f in items2:
                p = prefix + (f.path or "")
                mt = f.modification_time / 1000 if f.modification_time else None
                out.append(
                    Entry(p, p.rstrip("/").rsplit("/", 1)[-1], bool(f.is_dir), f.file_size, mt)
                )
        return sorted(out, key=lambda e: e.name)

    def write_bytes(self, path: str, data: bytes, *, expected_sha256: str | None) -> None:
        if expected_sha256 is not None:
            try:
                current = self.read_bytes(path)
            except FileNotFoundError:
                raise ConflictError(f"{path} vanished since it was read") from None
            if sha256(current) != expected_sha256:
                raise ConflictError(f"{path} changed since it was read")
        if self._is_volume(path):
            self._call(path, lambda: self._files().upload(path, io.BytesIO(data), overwrite=True))
            return
        dbfs, p = self._dbfs(), self._dbfs_path(path)
        if len(data) <= _DBFS_CHUNK:
            contents = base64.b64encode(data).decode("ascii")
            self._call(path, lambda: dbfs.put(p, contents=contents, overwrite=True))
            return
        handle = self._call(path, lambda: dbfs.create(p, overwrite=True)).handle
        if handle is None:
            raise OSError(errno.EIO, "DBFS create returned no handle", path)
        try:
            for start in range(0, len(data), _DBFS_CHUNK):
                block = base64.b64encode(data[start : start + _DBFS_CHUNK]).decode("ascii")
                self._call(path, lambda b=block, h=handle: dbfs.add_block(h, b))  # type: ignore[misc]
        finally:
            self._call(path, lambda h=handle: dbfs.close(h))  # type: ignore[misc]
