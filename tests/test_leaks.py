"""Credentials in a tracking URI never leave through the Python API, and an unreachable tracking
server is named within seconds by every entry point (align, gate, plan), not after MLflow's
minutes of retries.

The URIs point at 127.0.0.1 on a closed port, so nothing waits on the network; the per-test
timeout marker is the guard against the old minutes-long hang (no measured durations here).
"""

from __future__ import annotations

import http.server
import logging
import shutil
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alignment_mlflow
from alignment_mlflow.errors import (
    AlignmentError,
    InvalidInputError,
    SpecError,
    TargetError,
    TrackingError,
)
from conftest import FINDINGS_FIXTURES, REPO, TEMPLATE_SPEC

SCORES = REPO / "examples" / "scores" / "churn_scores.parquet"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1 without root: refused at once


def _uri(password: str, token: str) -> str:
    return f"http://ana:{password}@{CLOSED}/?token={token}"


# --------------------------------------------------------------------------- the base error type


@pytest.mark.parametrize("error", [AlignmentError, TrackingError, InvalidInputError, TargetError])
def test_every_error_redacts_its_message(error: type[AlignmentError]) -> None:
    exc = error(f"MLflow at {_uri('pw-SECRET', 'tok-SECRET')} reading run 1 failed")
    assert str(exc) == "MLflow at http://***@127.0.0.1:1/?token=*** reading run 1 failed"
    assert "SECRET" not in repr(exc)
    assert exc.args == (str(exc),)


def test_a_spec_error_redacts_its_problems() -> None:
    from alignment_mlflow.errors import Problem

    exc = SpecError([Problem("x", f"see {_uri('pw-SECRET', 'tok-SECRET')}")], source="s.yaml")
    assert "SECRET" not in str(exc)
    assert "http://***@127.0.0.1:1/?token=***" in str(exc)


# --------------------------------------------------------------------------- unreachable server


@pytest.mark.timeout(60)
def test_gate_names_an_unreachable_server_without_its_credentials() -> None:
    with pytest.raises(TrackingError) as info:
        alignment_mlflow.gate(
            str(TEMPLATE_SPEC), model_run="0" * 32, tracking_uri=_uri("pw-SECRET", "tok-SECRET")
        )
    message = str(info.value)
    assert f"MLflow tracking at http://***@{CLOSED}/?token=*** cannot be reached" in message
    assert "SECRET" not in message


@pytest.mark.timeout(60)
def test_gate_checks_a_separate_registry_too() -> None:
    with pytest.raises(TrackingError, match=r"http://\*\*\*@127\.0\.0\.1:1/ cannot be reached"):
        alignment_mlflow.gate(
            str(TEMPLATE_SPEC),
            model_version="models:/churn/1",
            tracking_uri="sqlite:///mlflow.db",
            registry_uri=f"http://ana:pw-SECRET@{CLOSED}/",
        )


@pytest.mark.timeout(60)
def test_plan_names_an_unreachable_server_without_its_credentials() -> None:
    with pytest.raises(TrackingError) as info:
        alignment_mlflow.plan(
            str(SCORES), str(TEMPLATE_SPEC), tracking_uri=_uri("pw-SECRET", "tok-SECRET")
        )
    message = str(info.value)
    assert f"MLflow tracking at http://***@{CLOSED}/?token=*** cannot be reached" in message
    assert "SECRET" not in message


# --------------------------------------------------------------------------- property


@contextmanager
def _captured() -> Iterator[list[str]]:
    """Every warning and log record (any logger, any level) raised inside, as text."""
    texts: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            texts.append(record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                texts.append(str(record.exc_info[1]))

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield texts
        texts += [str(w.message) for w in caught]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _entry_points(folder: Path) -> dict[str, Callable[[str], object]]:
    spec = str(TEMPLATE_SPEC)
    return {
        "align": lambda uri: alignment_mlflow.align(
            folder, spec, tracking_uri=uri, tiers_table=str(folder.parent / "tiers")
        ),
        "gate": lambda uri: alignment_mlflow.gate(spec, model_run="0" * 32, tracking_uri=uri),
        "gate version": lambda uri: alignment_mlflow.gate(
            spec, model_version="models:/churn/1", tracking_uri=uri, registry_uri=uri
        ),
        "plan": lambda uri: alignment_mlflow.plan(str(SCORES), spec, tracking_uri=uri),
        "plan dry run": lambda uri: alignment_mlflow.plan(
            str(SCORES), spec, tracking_uri=uri, dry_run=True
        ),
    }


_SECRET = st.from_regex(r"[A-Za-z0-9_~.-]{6,24}", fullmatch=True).map(lambda s: f"Zq{s}")


@pytest.fixture(scope="module")
def findings_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("leaks") / "findings"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml", folder)
    return folder


@pytest.mark.timeout(300)
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(password=_SECRET, token=_SECRET, entry=st.sampled_from(sorted(_entry_points(Path()))))
def test_no_secret_leaves_the_public_api(
    findings_folder: Path, password: str, token: str, entry: str
) -> None:
    before = (findings_folder / "subscription_clean_408768_findings.yaml").read_bytes()
    call = _entry_points(findings_folder)[entry]
    with _captured() as texts:
        try:
            call(_uri(password, token))
        except Exception as exc:
            chain: BaseException | None = exc
            while isinstance(chain, AlignmentError):  # ours; a library's cause is its own
                texts += [str(chain), repr(chain)]
                chain = chain.__cause__ or chain.__context__
        else:
            texts.append("<no error>")
    assert texts, entry
    for text in texts:
        assert password not in text, (entry, text)
        assert token not in text, (entry, text)
    if entry != "plan dry run":  # a dry run needs no tracking server and succeeds
        assert "<no error>" not in texts, entry
    assert (findings_folder / "subscription_clean_408768_findings.yaml").read_bytes() == before


# --------------------------------------------------------------------------- a server that fails


class _Failing(http.server.BaseHTTPRequestHandler):
    """Answers every request with a 500, or (``drop``) closes the connection without a word."""

    drop = False

    def _fail(self) -> None:
        if self.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = b'{"error_code": "INTERNAL_ERROR", "message": "boom"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _fail

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(params=["500", "drop"])
def failing_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Failing,), {"drop": request.param == "drop"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("entry", ["align", "gate", "gate version", "plan"])
def test_no_secret_in_the_logs_of_a_server_that_fails(
    failing_server: str,
    findings_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    entry: str,
) -> None:
    """The server answers the reachability check, then fails every request: urllib3 logs each
    retry (WARNING) and each request (DEBUG) with the URL, query string and all."""
    for name, value in {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }.items():
        monkeypatch.setenv(name, value)
    uri = f"http://ana:pw-ZqSECRET1@{failing_server}/?token=ZqSECRET2"
    with _captured() as texts, pytest.raises(AlignmentError) as info:
        _entry_points(findings_folder)[entry](uri)
    texts += [str(info.value), repr(info.value)]
    assert any(failing_server in text for text in texts), texts  # the calls were logged
    leaks = [text for text in texts if "ZqSECRET" in text]
    assert not leaks, leaks
