"""The plan's part of the chain (``tracking.chain``): its description links back to the
alignment run, and the alignment run lists it, latest first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from alignment_mlflow.economics.core import Economics


def chain_tags(
    client: Any, uri: str, ref: Any, e: Economics, scores: str, alignment: Mapping[str, Any]
) -> dict[str, str]:
    """The plan run's description with its link back to the alignment run, and the plan listed
    on that run (tracking.chain); only when the alignment is tracked on this server."""
    from alignment_mlflow.economics.describe import plan_description, verdict_line
    from alignment_mlflow.redact import redact_uri
    from alignment_mlflow.tracking import chain, chain_io

    record = alignment.get("mlflow")
    record = record if isinstance(record, Mapping) else {}
    align_id = str(record.get("run_id") or "")
    here = not record.get("tracking_uri") or str(record["tracking_uri"]) == redact_uri(uri)
    label = url = None
    tags: dict[str, str] = {}
    if align_id:
        exp = str(record.get("experiment_id", ""))
        label = f"alignment run {align_id[:8]}"
        url = chain.run_link(exp, align_id, record.get("run_url"))
        tags["alignment.alignment_run_id"] = align_id
    tags["mlflow.note.content"] = plan_description(
        e, scores=scores, alignment_label=label, alignment_url=url
    )
    if align_id and here:
        base = chain_io.base_url(uri)
        page = chain.run_link(
            ref.experiment_id,
            ref.run_id,
            f"{base}/#/experiments/{ref.experiment_id}/runs/{ref.run_id}" if base else None,
        )
        started = datetime.fromtimestamp(ref.start_time_ms / 1000, tz=timezone.utc)
        name = f"plan {started:%Y-%m-%d %H:%M} UTC, {e.rows:,} customers"
        entry = chain.entry(ref.run_id, name, page, verdict_line(e))
        chain_io.record(client, uri, align_id, "plans", entry)
    return {k: v for k, v in tags.items() if ref.existing_tags.get(k) != v}
