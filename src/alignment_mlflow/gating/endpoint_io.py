"""Read a serving endpoint's metrics export through databricks-sdk: one bounded call.

``WorkspaceClient().serving_endpoints.export_metrics(name)`` is ``GET
/api/2.0/serving-endpoints/{name}/metrics`` with ``Accept: text/plain``; it returns an
``ExportMetricsResponse`` whose ``contents`` is the raw Prometheus/OpenMetrics body as a binary
stream (databricks-sdk-py ``databricks/sdk/service/serving.py``). The client comes from
:func:`alignment_mlflow.workspace.workspace_client` (retries bounded by
``ALIGNMENT_DATABRICKS_TIMEOUT``), the body is read up to :data:`MAX_EXPORT_BYTES`.

A failure to get a usable export is the caller's input to fix (exit 2, nothing written): an
unknown endpoint (404), one the credentials may not read, a body that is not Prometheus text. A
host that does not answer is what it is everywhere in the package, a system failure (exit 1,
nothing written, a rerun may succeed).
"""

from __future__ import annotations

import time
from typing import Any

from alignment_mlflow import workspace
from alignment_mlflow.errors import AlignmentError, InvalidInputError
from alignment_mlflow.gating import prometheus
from alignment_mlflow.gating.endpoint import Measurement, measure
from alignment_mlflow.redact import redact_text

MAX_EXPORT_BYTES = 8 * 1024 * 1024


def _host(client: Any) -> str | None:
    return getattr(getattr(client, "config", None), "host", None)


def read_export(name: str, *, profile: str | None = None, client: Any = None) -> tuple[str, int]:
    """The export's text and the time it was read (ms since the epoch, this host's clock)."""
    from databricks.sdk.errors import NotFound, PermissionDenied
    from databricks.sdk.errors.base import DatabricksError

    if not name or len(name) > 63 or "/" in name:
        raise InvalidInputError(
            f"--endpoint {name!r} is not a serving endpoint name (1 to 63 characters, no '/')"
        )
    what = f"reading the metrics export of serving endpoint {name!r}"
    try:
        client = client or workspace.workspace_client(profile)
        stamp = int(time.time() * 1000)
        response = client.serving_endpoints.export_metrics(name)
        body = response.contents.read(MAX_EXPORT_BYTES + 1) if response.contents else b""
    except AlignmentError:
        raise
    except (NotFound, PermissionDenied) as exc:
        target = workspace.describe(_host(client), profile)
        nf = isinstance(exc, NotFound) and (exc.error_code or "") != "ENDPOINT_NOT_FOUND"
        why = "no such serving endpoint" if nf else "not readable"
        raise InvalidInputError(
            f"{what}: {why} at {target} ({redact_text(str(exc))[:200]}); check the name "
            "(`databricks serving-endpoints list`) and that you may query it"
        ) from exc
    except (DatabricksError, OSError, TimeoutError) as exc:
        known = workspace.failure(exc, what=what, host=_host(client), profile=profile)
        if known is not None:  # a host that does not answer is a system failure (exit 1)
            raise known from exc
        raise InvalidInputError(redact_text(f"{what} failed: {exc}")[:600]) from exc
    except Exception as exc:  # requests' errors are not OSError in every version
        known = workspace.failure(exc, what=what, host=_host(client), profile=profile)
        if known is None:
            raise
        raise known from exc
    if len(body) > MAX_EXPORT_BYTES:
        raise InvalidInputError(f"{what}: the export is larger than {MAX_EXPORT_BYTES} bytes")
    try:
        return body.decode("utf-8"), stamp
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{what}: the export is not UTF-8 text") from exc


def read_measurement(
    name: str, window: str, *, profile: str | None = None, client: Any = None
) -> Measurement:
    text, stamp = read_export(name, profile=profile, client=client)
    try:
        return measure(prometheus.parse(text), endpoint=name, window=window, exported_at_ms=stamp)
    except ValueError as exc:
        raise InvalidInputError(
            f"the metrics export of serving endpoint {name!r} is not usable Prometheus text: {exc}"
        ) from exc
