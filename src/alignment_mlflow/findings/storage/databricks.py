"""DBFS (``dbfs:/``) and Unity Catalog volumes (``/Volumes/``) off-cluster, via databricks-sdk.

On a cluster DBFS is a FUSE mount read with :class:`~alignment_mlflow.findings.storage.local.
LocalStore`; volumes use this store there too when credentials resolve, because the Files API
replaces a whole object at once while the volume mount cannot rename (see ``store_for``). The
workspace client is created on first use, not in the constructor, so building a store never
touches the network or the credential chain; it comes from ``alignment_mlflow.workspace`` with
bounded retries, and credential or connection failures become one message naming host and profile.

Compare-and-swap over REST is best effort: the content hash is re-read right before the upload,
but neither API offers a conditional write, so a writer landing between that read and the upload
can still be overwritten. The window is one round trip.
"""

from __future__ import annotations

import base64
import errno
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests

try:
    from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated
    from databricks.sdk.errors.base import DatabricksError
    from databricks.sdk.service.files import DbfsAPI, FilesAPI
except ImportError as exc:  # pragma: no cover - databricks-sdk is a runtime dependency
    raise ImportError(
        "dbfs:/ and /Volumes/ paths off a cluster need databricks-sdk: pip install databricks-sdk"
    ) from exc

from alignment_mlflow.errors import DatabricksConfigError, StorageError
from alignment_mlflow.findings.storage.base import (
    ConflictError,
    Entry,
    Store,
    check_size,
    sha256,
)
from alignment_mlflow.findings.storage.local import LocalStore
from alignment_mlflow.workspace import describe, failure, workspace_client

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
            self._client = workspace_client(self._profile)
        return self._client

    def _host(self) -> str | None:
        try:
            return str(self.client.config.host)
        except Exception:
            return None

    @contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        try:
            yield
        except NotFound as exc:
            raise FileNotFoundError(errno.ENOENT, f"not found on {self._host()}", path) from exc
        except (PermissionDenied, Unauthenticated) as exc:
            raise PermissionError(
                errno.EACCES,
                f"{describe(self._host(), self._profile)} refused access ({exc}); check "
                "DATABRICKS_HOST/DATABRICKS_TOKEN or pass --profile with a ~/.databrickscfg "
                "profile that can read it",
                path,
            ) from exc
        except DatabricksError as exc:
            where = describe(self._host(), self._profile)
            raise OSError(errno.EIO, f"{where}: {exc}", path) from exc
        except (TimeoutError, requests.exceptions.ConnectionError) as exc:
            mapped = failure(
                exc,
                what=f"reaching {path}",
                host=self._host(),
                profile=self._profile,
                system_error=StorageError,
            )
            raise (mapped or StorageError(f"{path}: {exc}")) from exc

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


class ClusterVolumeStore(LocalStore):
    """``/Volumes/`` on a cluster: read through the FUSE mount, written through the Files API.

    The mount cannot rename, so a local write is not atomic there; a Files API upload replaces
    the whole object at once. ``.bak`` is uploaded first, then the file, compare-and-swap on the
    content read. Without usable credentials the write goes through the mount
    (:class:`LocalStore`, in place when rename fails). ``mount`` is where ``/Volumes`` is mounted
    (``/`` on Databricks; tests point it at the local workspace's storage).
    """

    def __init__(self, *, profile: str | None = None, client: Any = None, mount: str = "/") -> None:
        self._remote = DatabricksStore(profile=profile, client=client)
        self._mount = mount

    def _local(self, path: str) -> str:
        return os.path.join(self._mount, path.lstrip("/"))

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        return super().read_bytes(self._local(path), max_bytes=max_bytes)

    def stat(self, path: str) -> Entry:
        return replace(super().stat(self._local(path)), path=path)

    def list(self, folder: str) -> list[Entry]:
        entries = super().list(self._local(folder))
        return [replace(e, path=self.join(folder, e.name)) for e in entries]

    def _through_files_api(self) -> bool:
        """Whether writes go through the Files API: only when credentials resolve."""
        try:
            self._remote.client  # noqa: B018 - builds the client: are there credentials?
        except DatabricksConfigError:
            return False
        return True

    def check_writable(self, path: str) -> None:
        """No probe through the mount when the Files API writes: opening the file for writing
        and creating a temporary file over FUSE are not what the write does, and the Files API,
        like :class:`DatabricksStore`, can only find out by writing. Without credentials the
        write goes through the mount, and so does the probe (at the file's place on the mount)."""
        if self._through_files_api():
            return
        super().check_writable(self._local(path))

    def write_bytes(self, path: str, data: bytes, *, expected_sha256: str | None) -> None:
        if not self._through_files_api():
            super().write_bytes(self._local(path), data, expected_sha256=expected_sha256)
            return
        try:
            current: bytes | None = self.read_bytes(path)
        except FileNotFoundError:
            current = None
        if expected_sha256 is not None and (current is None or sha256(current) != expected_sha256):
            raise ConflictError(f"{path} changed since it was read")
        if current is not None:
            self._remote.write_bytes(f"{path}.bak", current, expected_sha256=None)
        self._remote.write_bytes(path, data, expected_sha256=expected_sha256)
