"""A local Databricks workspace on 127.0.0.1 that the real ``databricks-sdk`` and MLflow talk to.

DBFS 2.0 (get-status, list, read, put, create/add-block/close) and the Files API (files GET/HEAD/
PUT, directories GET/HEAD), storing files under a temp dir, checking a bearer token (401 when
wrong) and answering errors in the SDK's JSON shape, so ``databricks.sdk.WorkspaceClient`` maps
them to its own exceptions exactly as against a workspace. The workspace folder tree, the MLflow
REST API (forwarded to the session's real ``mlflow server``) and the run-artifact endpoints live in
``_databricks_workspace.py``; ``databricks_mlflow`` is the fixture with MLflow behind it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from _databricks_workspace import USER, WorkspaceRoutes

TOKEN = "dapi-test-token"


def _initial_tree() -> dict[str, tuple[str, int]]:
    return {
        p: ("DIRECTORY", i)
        for i, p in enumerate(("/", "/Users", f"/Users/{USER}", "/Shared", "/Repos"), start=1)
    }


@dataclass
class FakeWorkspace:
    host: str
    root: Path
    requests: list[tuple[str, str]]
    mlflow_upstream: str | None = None
    # workspace objects by path: (object_type, object_id)
    objects: dict[str, tuple[str, int]] = field(default_factory=_initial_tree)
    # serving endpoints by name: the Prometheus text their metrics export answers
    serving_metrics: dict[str, str] = field(default_factory=dict)

    def env(self, token: str = TOKEN) -> dict[str, str]:
        """The variables a process needs to reach this workspace (host, PAT auth)."""
        return {"DATABRICKS_HOST": self.host, "DATABRICKS_TOKEN": token}

    def client(self, token: str = TOKEN) -> Any:
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.host, token=token, auth_type="pat")

    def local(self, remote: str) -> Path:
        """Where a ``dbfs:/x`` or ``/Volumes/...`` path is stored on disk."""
        if remote.startswith("dbfs:"):
            return self.root / "dbfs" / remote[len("dbfs:") :].lstrip("/")
        return self.root / remote.lstrip("/")


def _handler(ws: FakeWorkspace) -> type[BaseHTTPRequestHandler]:
    handles: dict[int, tuple[Path, bytearray]] = {}
    root, log, fake = ws.root, ws.requests, ws

    class Handler(WorkspaceRoutes, BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        ws = fake

        def log_message(self, *args: object) -> None:
            pass

        # -- helpers ------------------------------------------------------------------------
        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

        def _error(self, status: int, code: str, message: str) -> None:
            self._json(status, {"error_code": code, "message": message})

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                return True
            self._body()
            self._error(401, "UNAUTHENTICATED", "Invalid access token.")
            return False

        def _dbfs(self, path: str) -> Path:
            return root / "dbfs" / path.lstrip("/")

        @staticmethod
        def _info(p: Path, path: str) -> dict[str, Any]:
            st = p.stat()
            return {
                "path": path,
                "is_dir": p.is_dir(),
                "file_size": 0 if p.is_dir() else st.st_size,
                "modification_time": int(st.st_mtime * 1000),
            }

        # -- routing ------------------------------------------------------------------------
        def _route(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            log.append((self.command, url.path))
            if url.path.startswith("/_presigned/"):  # a cloud URL: signed, no bearer token
                self._presigned(url.path[len("/_presigned/") :], query)
                return
            if not self._authorised():
                return
            if url.path.startswith("/api/2.0/dbfs/"):
                self._dbfs_api(url.path.rsplit("/", 1)[-1], query)
            elif url.path.startswith("/api/2.0/fs/files/"):
                path = urllib.parse.unquote(url.path[len("/api/2.0/fs/files") :])
                rel = self.tracking_artifact(path)
                if rel is not None:
                    self._tracking_file(rel)
                else:
                    self._files_api(path, query)
            elif url.path.startswith("/api/2.0/fs/directories/"):
                path = urllib.parse.unquote(url.path[len("/api/2.0/fs/directories") :])
                rel = self.tracking_artifact(path)
                if rel is not None:
                    self._tracking_dir(path, rel)
                else:
                    self._dirs_api(path)
            elif url.path.startswith("/api/2.0/workspace/"):
                self._workspace_api(url.path.rsplit("/", 1)[-1], query)
            elif url.path == "/api/2.0/preview/scim/v2/Me":
                self._scim_me()
            elif url.path.startswith("/api/2.0/serving-endpoints/"):
                self._serving_endpoint(url.path[len("/api/2.0/serving-endpoints/") :])
            elif re.match(r"/api/[23]\.0/(preview/)?mlflow/", url.path):
                self._mlflow_api(url.path, url.query)
            else:
                self._body()
                self._error(404, "ENDPOINT_NOT_FOUND", f"no endpoint {url.path}")

        do_GET = do_POST = do_PUT = do_HEAD = do_PATCH = do_DELETE = _route

        def _dbfs_api(self, op: str, query: dict[str, str]) -> None:
            body = json.loads(self._body() or b"{}") if self.command == "POST" else {}
            path = query.get("path") or body.get("path") or ""
            p = self._dbfs(path)
            if op in ("get-status", "list", "read") and not p.exists():
                self._error(
                    404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {path}."
                )
            elif op == "get-status":
                self._json(200, self._info(p, path))
            elif op == "list":
                items = sorted(p.iterdir()) if p.is_dir() else [p]
                files = [self._info(c, f"{path.rstrip('/')}/{c.name}") for c in items]
                self._json(200, {"files": files})
            elif op == "read":
                offset, length = int(query.get("offset", 0)), int(query.get("length", 1 << 20))
                data = p.read_bytes()[offset : offset + length]
                self._json(200, {"bytes_read": len(data), "data": base64.b64encode(data).decode()})
            elif op == "put":
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(base64.b64decode(body.get("contents", "")))
                self._json(200, {})
            elif op == "create":
                handle = len(handles) + 1
                handles[handle] = (p, bytearray())
                self._json(200, {"handle": handle})
            elif op == "add-block":
                handles[int(body["handle"])][1].extend(base64.b64decode(body["data"]))
                self._json(200, {})
            elif op == "close":
                target, data = handles.pop(int(body["handle"]))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(bytes(data))
                self._json(200, {})
            else:
                self._error(404, "ENDPOINT_NOT_FOUND", op)

        def _files_api(self, path: str, query: dict[str, str]) -> None:
            p = root / path.lstrip("/")
            if self.command == "PUT":
                data = self._body()
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
                self._send(204)
                return
            if not p.is_file():
                self._error(404, "NOT_FOUND", f"The file being accessed is not found: {path}")
                return
            data = p.read_bytes()
            headers = {
                "Content-Type": "application/octet-stream",
                "Last-Modified": formatdate(p.stat().st_mtime, usegmt=True),
            }
            if self.command == "HEAD":
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return
            self._send(200, data, headers)

        def _dirs_api(self, path: str) -> None:
            p = root / path.lstrip("/")
            if not p.is_dir():
                self._error(404, "NOT_FOUND", f"The directory being accessed is not found: {path}")
                return
            if self.command == "HEAD":
                self._send(200)
                return
            contents = [
                {
                    "path": f"{path.rstrip('/')}/{c.name}",
                    "name": c.name,
                    "is_directory": c.is_dir(),
                    "file_size": None if c.is_dir() else c.stat().st_size,
                    "last_modified": int(c.stat().st_mtime * 1000),
                }
                for c in sorted(p.iterdir())
            ]
            self._json(200, {"contents": contents})

    return Handler


@contextlib.contextmanager
def serve_workspace(root: Path, mlflow_upstream: str | None = None) -> Iterator[FakeWorkspace]:
    root.mkdir(parents=True, exist_ok=True)
    ws = FakeWorkspace("", root, [], mlflow_upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ws))
    ws.host = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ws
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def databricks_workspace(tmp_path: Path) -> Iterator[FakeWorkspace]:
    with serve_workspace(tmp_path / "workspace") as ws:
        yield ws


@pytest.fixture
def databricks_mlflow(tmp_path: Path, mlflow_server: str) -> Iterator[FakeWorkspace]:
    """A workspace whose MLflow endpoints are the session's real ``mlflow server``."""
    with serve_workspace(tmp_path / "workspace", mlflow_server) as ws:
        yield ws
