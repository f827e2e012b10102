"""A local HTTP server speaking the few Databricks REST endpoints we use, for the real SDK.

DBFS 2.0 (get-status, list, read, put, create/add-block/close) and the Files API (files GET/HEAD/
PUT, directories GET/HEAD), storing files under a temp dir, checking a bearer token (401 when
wrong) and answering errors in the SDK's JSON shape, so ``databricks.sdk.WorkspaceClient`` maps
them to its own exceptions exactly as against a workspace.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

TOKEN = "dapi-test-token"


@dataclass
class FakeWorkspace:
    host: str
    root: Path
    requests: list[tuple[str, str]]

    def client(self, token: str = TOKEN) -> Any:
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.host, token=token, auth_type="pat")

    def local(self, remote: str) -> Path:
        """Where a ``dbfs:/x`` or ``/Volumes/...`` path is stored on disk."""
        if remote.startswith("dbfs:"):
            return self.root / "dbfs" / remote[len("dbfs:") :].lstrip("/")
        return self.root / remote.lstrip("/")


def _handler(root: Path, log: list[tuple[str, str]]) -> type[BaseHTTPRequestHandler]:
    handles: dict[int, tuple[Path, bytearray]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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
            if not self._authorised():
                return
            if url.path.startswith("/api/2.0/dbfs/"):
                self._dbfs_api(url.path.rsplit("/", 1)[-1], query)
            elif url.path.startswith("/api/2.0/fs/files/"):
                self._files_api(urllib.parse.unquote(url.path[len("/api/2.0/fs/files") :]), query)
            elif url.path.startswith("/api/2.0/fs/directories/"):
                self._dirs_api(urllib.parse.unquote(url.path[len("/api/2.0/fs/directories") :]))
            else:
                self._error(404, "ENDPOINT_NOT_FOUND", f"no endpoint {url.path}")

        do_GET = do_POST = do_PUT = do_HEAD = _route

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


@pytest.fixture
def databricks_workspace(tmp_path: Path) -> Iterator[FakeWorkspace]:
    root = tmp_path / "workspace"
    root.mkdir()
    log: list[tuple[str, str]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeWorkspace(f"http://127.0.0.1:{server.server_address[1]}", root, log)
    finally:
        server.shutdown()
        server.server_close()
