"""The test servers' process plumbing, shared by ``_mlflow_server`` and ``_spark``: a free
loopback port, waiting until a started server answers, and stopping its process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    """Whether something accepts connections on the loopback ``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def wait_ready(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float, every: float
) -> bool:
    """Probe ``ready`` every ``every`` seconds until it holds (True), the process exits or
    ``timeout`` passes (False: the caller says which, with the server's log)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if ready():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return False


def stop_group(proc: subprocess.Popen[bytes], sig: int, grace: float) -> None:
    """Send ``sig`` to the server's process group (a server runs in a session of its own: its
    children go with it), and SIGKILL it if it is not gone within ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
