"""The one way this package builds a Databricks ``WorkspaceClient``: bounded, and failing clearly.

The SDK's defaults retry a failing call for 300 s with a 60 s timeout per request, and resolving
the host's metadata costs another such budget, so an unreachable host looks like a job hanging for
ten minutes. Here both budgets are bounded (``ALIGNMENT_DATABRICKS_TIMEOUT`` seconds, default 60;
each request at most 30 s). Missing credentials or a missing profile surface when the client is
built, as a ``ValueError`` from the SDK; they become one :class:`DatabricksConfigError` naming the
host, the profile and what to set. :func:`failure` does the same for errors of a call.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from alignment_mlflow.errors import AlignmentError, DatabricksConfigError, SystemFailure

TIMEOUT_ENV = "ALIGNMENT_DATABRICKS_TIMEOUT"
DEFAULT_TIMEOUT_S = 60
MAX_REQUEST_TIMEOUT_S = 30
_LOGIN_HINT = "databricks auth login --host <workspace-url>"


def timeout_seconds() -> int:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = int(float(raw)) if raw.strip() else DEFAULT_TIMEOUT_S
    except ValueError:
        raise DatabricksConfigError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; unset it or use e.g. 60"
        ) from None
    return max(1, value)


def describe(host: str | None, profile: str | None) -> str:
    """``host H (profile P)`` as far as known, for messages."""
    profile = profile or os.environ.get("DATABRICKS_CONFIG_PROFILE")
    if not profile and os.environ.get("DATABRICKS_HOST"):
        return f"host {host or os.environ['DATABRICKS_HOST']} (from DATABRICKS_HOST, no profile)"
    return f"host {host or '<no host set>'} (profile {profile or 'DEFAULT'})"


@contextlib.contextmanager
def _quiet_sdk_warnings() -> Iterator[None]:
    """The SDK logs a warning when the host-metadata probe fails, before the call that fails
    properly; one message per failure is enough, so that warning is held back while building."""
    logger = logging.getLogger("databricks.sdk")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def workspace_client(profile: str | None = None) -> Any:
    """A client with bounded retries, or :class:`DatabricksConfigError` saying what to set."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    budget = timeout_seconds()
    try:
        with _quiet_sdk_warnings():
            config = Config(
                profile=profile,
                retry_timeout_seconds=budget,
                http_timeout_seconds=min(budget, MAX_REQUEST_TIMEOUT_S),
            )
    except ValueError as exc:
        reason = str(exc).split(". Config:", 1)[0]
        cfg_file = os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg"
        if "profile configured" in reason:
            fix = (
                f"add profile {profile or os.environ.get('DATABRICKS_CONFIG_PROFILE')!r} to "
                f"{cfg_file} (`{_LOGIN_HINT} --profile <name>`) or pass an existing one"
            )
        else:
            fix = (
                "set DATABRICKS_HOST and DATABRICKS_TOKEN, or pass --profile / "
                f"--tracking-uri databricks://<profile> naming a profile in {cfg_file} "
                f"(`{_LOGIN_HINT}` creates one)"
            )
        raise DatabricksConfigError(
            f"Databricks credentials for {describe(None, profile)} not usable: {reason}; {fix}"
        ) from exc
    return WorkspaceClient(config=config)


def failure(
    exc: BaseException,
    *,
    what: str,
    host: str | None,
    profile: str | None,
    system_error: type[SystemFailure] = SystemFailure,
) -> AlignmentError | None:
    """The package error for a failed SDK call, or None when it is not about the connection
    (the caller maps path-level errors such as NotFound itself)."""
    import requests
    from databricks.sdk.errors import NotFound, Unauthenticated

    target = describe(host, profile)
    if isinstance(exc, AlignmentError):
        return exc
    if isinstance(exc, Unauthenticated):
        return DatabricksConfigError(
            f"{what}: {target} refused the credentials ({exc}); set a valid DATABRICKS_TOKEN for "
            f"this host, or `{_LOGIN_HINT}` and pass that profile"
        )
    if isinstance(exc, (TimeoutError, requests.exceptions.ConnectionError)):
        return system_error(
            f"{what}: {target} did not answer within {timeout_seconds()} s "
            f"({str(exc).splitlines()[0][:200]}); check DATABRICKS_HOST (or the profile's host) "
            f"and the network, or raise {TIMEOUT_ENV}"
        )
    if isinstance(exc, NotFound) and (exc.error_code or "") in ("", "ENDPOINT_NOT_FOUND"):
        return DatabricksConfigError(
            f"{what}: {target} does not answer like a Databricks workspace ({exc}); "
            "check DATABRICKS_HOST (https://<workspace>.cloud.databricks.com)"
        )
    return None
