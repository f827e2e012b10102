"""The one way this package talks to MLflow: every room (the alignment run, the gate, the plan)
gets its ``MlflowClient`` and wraps its calls here, so each has the same guarantees.

- A client is made only for a server that answers: an http(s) tracking or registry URI that
  cannot be reached fails within seconds, naming it, instead of after MLflow's minutes of
  retries (those stay in force for a server that answered and hiccuped).
- Every failure becomes a ``TrackingError`` naming the server and the call; errors of ours pass
  through. Redaction is the error type's (``errors.AlignmentError``), so no caller can forget it.
- Log records of the HTTP stack carry no secret: urllib3 logs every request and retry with the
  tracking URI's query string (``?token=...``), so a filter redacts them (``_RedactingFilter``).
- Experiments are created in one way: artifacts beside a sqlite store, a concurrent creation
  tolerated.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from alignment_mlflow.errors import AlignmentError, InvalidInputError, TargetError, TrackingError
from alignment_mlflow.redact import redact_text, redact_uri
from alignment_mlflow.tracking import uris

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])
#: MLflow's own HTTP retry budget (same names and defaults in MLflow 2.21 and 3.x: 7 retries,
#: backoff factor 2, jitter 1.0, 120 s per request) spends ~4 minutes on one call that keeps
#: failing, so a persistent HTTP 500 on the run's final update took 498 s to fail (that call,
#: then marking the run FAILED). For our calls: 3 retries, backoff factor 1 (0, 2, 4 s), 30 s
#: per request, i.e. a persistent 500 fails one call in ~6 s and a silent server in ~2 min.
#: A value the user set in the environment is kept: they asked for it.
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
#: How long a command waits, in all, for a sqlite store that another process holds locked (a
#: write transaction of an ``mlflow`` server, a notebook, another run), before it gives up with
#: one message. Each attempt also waits SQLite's own busy timeout (5 s in Python's sqlite3).
LOCK_WAIT_SECONDS = 30.0
#: MLflow error codes that mean "the thing you named is not there": the user's input (exit 2).
MISSING_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")
#: Loggers that quote request URLs. A logger's filter sees only records logged on that very
#: logger (not its children's, which propagate to handlers directly), hence each by name.
_URL_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "requests",
    "mlflow.utils.rest_utils",
    "mlflow.utils.request_utils",
    "mlflow.store.tracking.rest_store",
)


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message with its secrets masked (``redact.redact_text``), then lets it
    through: handlers, pytest's capture and Databricks' driver log all see the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = _RedactingFilter()


def install_log_redaction() -> None:
    """Idempotent: the filter goes on each URL-quoting logger once per process."""
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@contextlib.contextmanager
def bounded_requests() -> Iterator[None]:
    """MLflow's HTTP retries bounded (:data:`HTTP_BOUNDS`) while our calls run, and restored
    afterwards: MLflow reads these variables at each request, and a notebook's own MLflow calls
    keep the process's settings. Re-entrant; the main thread's calls are what it bounds."""
    added = [k for k in HTTP_BOUNDS if not os.environ.get(k)]
    for key in added:
        os.environ[key] = HTTP_BOUNDS[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def with_bounded_requests(func: F) -> F:
    """``func`` (an entry point: align, gate, plan) with every MLflow request bounded."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        with bounded_requests():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def make_client(tracking_uri: str, registry_uri: str | None = None) -> MlflowClient:
    """A client for a reachable server. The registry defaults to the tracking store (MLflow's own
    default would be the process's global URI). On Databricks it is Unity Catalog with the same
    profile: MLflow 3 defaults to it, but 2.21/2.22 (16.4 LTS ML, serverless environment 4)
    default to the workspace registry, where ``models:/catalog.schema.model/1`` is not found."""
    from mlflow import MlflowClient

    if registry_uri is None:
        on_databricks = re.fullmatch(r"databricks(://.*)?", tracking_uri)
        registry_uri = (
            f"databricks-uc{on_databricks.group(1) or ''}" if on_databricks else tracking_uri
        )
    install_log_redaction()
    uris.check_reachable(tracking_uri)
    if registry_uri and registry_uri != tracking_uri:
        uris.check_reachable(registry_uri)
    # MLflow 3 opens a sqlite store (and reads its schema) in the constructor; 2.x on first call.
    try:
        with bounded_requests():
            return _waiting_out_a_lock(
                lambda: MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
            )
    except Exception as exc:
        if _is_locked(exc):
            raise TrackingError(
                f"{_locked_message(tracking_uri)}; nothing was written. Rerun when that "
                "process is done, or pass another --tracking-uri"
            ) from exc
        raise


def _is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is SQLite's "database is locked" (SQLITE_BUSY after
    the busy timeout), however MLflow or SQLAlchemy wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "database is locked" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _waiting_out_a_lock(fn: Callable[[], T]) -> T:
    """``fn()``, tried again while a sqlite store stays locked, up to :data:`LOCK_WAIT_SECONDS`.
    A locked store rolled the statement back, so trying again writes nothing twice."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    pause = 0.25
    while True:
        try:
            return fn()
        except Exception as exc:
            left = deadline - time.monotonic()
            if not _is_locked(exc) or left <= 0:
                raise
            time.sleep(min(pause, left))
            pause = min(pause * 2, 4.0)


def _locked_message(uri: str) -> str:
    store = uri.removeprefix("sqlite:///").split("?", 1)[0] if uri.startswith("sqlite:") else uri
    return (
        f"the MLflow store {store} is locked by another process (still locked after "
        f"{LOCK_WAIT_SECONDS:.0f} s: an mlflow server, notebook or run writing to it)"
    )


def latest_finished_run(
    client: MlflowClient, uri: str, experiment_id: str, tag: str, value: str, *, what: str
) -> Run | None:
    """The newest FINISHED run of the experiment whose ``tag`` is ``value`` (a fingerprint):
    the run a rerun of the same inputs reuses."""
    runs = call(
        uri,
        what,
        lambda: client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{tag}` = '{value}' and attributes.status = 'FINISHED'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        ),
    )
    return runs[0] if runs else None


def call(uri: str, what: str, fn: Callable[[], T], *, missing: str | None = None) -> T:
    """Run one client call, its HTTP retries bounded (:func:`bounded_requests`); a failure
    (after those retries) names the server and the call. ``missing`` is the exit-2 message
    when MLflow says the thing named is not there."""
    try:
        with bounded_requests():
            return _waiting_out_a_lock(fn)
    except AlignmentError:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        if _is_locked(exc):
            raise TrackingError(
                f"{_locked_message(uri)}: {what} failed. Rerun when that process is done"
            ) from exc

        code = getattr(exc, "error_code", "") if isinstance(exc, MlflowException) else ""
        detail = exc.message if isinstance(exc, MlflowException) else str(exc)
        detail = detail.splitlines()[0][:300] if detail else type(exc).__name__
        if missing and code in MISSING_CODES:
            raise InvalidInputError(f"{missing} ({detail})") from exc
        raise TrackingError(f"MLflow tracking at {uri}: {what} failed: {detail}") from exc


def experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    """The experiment of this name, created when absent (artifacts beside a sqlite store, see
    ``uris.artifacts_beside``); a deleted one is refused, not silently recreated."""
    exp = call(uri, f"looking up experiment {name}", lambda: client.get_experiment_by_name(name))
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            raise TargetError(
                f"experiment {name} is deleted in {redact_uri(uri)}; restore it or pass another "
                "--experiment"
            )
        return str(exp.experiment_id)
    location = uris.artifacts_beside(uri)
    try:
        created = call(
            uri,
            f"creating experiment {name}",
            lambda: client.create_experiment(name, artifact_location=location),
        )
    except TrackingError:
        # Another process may have created it meanwhile.
        exp = call(uri, f"creating experiment {name}", lambda: client.get_experiment_by_name(name))
        if exp is None:
            raise
        return str(exp.experiment_id)
    return str(created)
