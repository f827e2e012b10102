"""A real `mlflow server` on 127.0.0.1 for the whole test session, and a counting proxy.

The server is started once (it takes a few seconds), waited on through /health, and stopped by
its pid at the end. ``counting_proxy`` sits in front of it so a test can count the HTTP requests
one alignment makes.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from _process import free_port, stop_group, wait_ready


class ServerProcess:
    """A real `mlflow server` that a test can start, kill (SIGKILL) and start again."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        log = (self.root / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
                "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination", str(self.root / "artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.root,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        if wait_ready(self.proc, self._healthy, timeout=120, every=0.3):
            return self
        state = "exited" if self.proc.poll() is not None else "not healthy"
        pytest.fail(f"mlflow server {state}: {(self.root / 'server.log').read_text()[-3000:]}")

    def _healthy(self) -> bool:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp,
        ):
            return bool(resp.status == 200)
        return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        stop_group(self.proc, sig, grace=15)
        self.proc = None


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = ServerProcess(tmp_path_factory.mktemp("mlflow-server")).start()
    try:
        yield server.uri
    finally:
        server.stop()


class CountingProxy:
    """Forwards every request to the server and records (method, path)."""

    def __init__(self, upstream: str) -> None:
        self.upstream_uri = upstream
        self.upstream = upstream.removeprefix("http://")
        self.requests: list[tuple[str, str]] = []
        self.before: Callable[[str, str], None] | None = None  # fault injection hook
        #: fault injection: a status to answer instead of forwarding (None forwards)
        self.answer: Callable[[str, str], int | None] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.requests.append((self.command, self.path.split("?")[0]))
                if proxy.before is not None:
                    proxy.before(self.command, self.path)
                status = proxy.answer(self.command, self.path) if proxy.answer else None
                if status is not None:
                    body_out = b'{"error_code": "INTERNAL_ERROR", "message": "injected"}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body_out)))
                    self.end_headers()
                    self.wfile.write(body_out)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError:  # the upstream server is gone
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_proxy(mlflow_server: str) -> Iterator[CountingProxy]:
    with CountingProxy(mlflow_server) as proxy:
        yield proxy


@pytest.fixture
def artifacts_root(tmp_path: Path) -> Path:
    return tmp_path
