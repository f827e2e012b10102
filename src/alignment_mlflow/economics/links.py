"""The plan's part of the chain (``tracking.chain``): its description links back to the
alignment run, and the alignment run lists it, latest first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from alignment_mlflow import tagkeys
from alignment_mlflow.economics.core import Economics
from alignment_mlflow.economics.describe import plan_description, verdict_line
from alignment_mlflow.economics.plan_report import plan_report_html
from alignment_mlflow.economics.tracking import _call
from alignment_mlflow.redact import redact_uri
from alignment_mlflow.tracking import chain, chain_io
from alignment_mlflow.tracking.runs import fail_run

ALIGNMENT_RUN_TAG = tagkeys.ALIGNMENT_RUN  # in view: the plan's link back to its alignment run


def chain_tags(
    client: Any, uri: str, ref: Any, e: Economics, scores: str, alignment: Mapping[str, Any]
) -> dict[str, str]:
    """The plan run's description with its link back to the alignment run, and the plan listed
    on that run (tracking.chain); only when the alignment is tracked on this server."""

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
        tags[ALIGNMENT_RUN_TAG] = align_id
    tags["mlflow.note.content"] = plan_description(
        e, scores=scores, alignment_label=label, alignment_url=url
    )
    if align_id and here:
        page = chain.run_link(ref.experiment_id, ref.run_id, ref.run_url)
        started = datetime.fromtimestamp(ref.start_time_ms / 1000, tz=timezone.utc)
        name = f"plan {started:%Y-%m-%d %H:%M} UTC, {e.rows:,} customers"
        entry = chain.entry(ref.run_id, name, page, verdict_line(e))
        chain_io.record(client, uri, align_id, "plans", entry)
    return {k: v for k, v in tags.items() if ref.existing_tags.get(k) != v}


def run_name(project: str, rows: int, digest: str) -> str:
    """Tells plan runs apart in the list: which project, how many customers, which scores."""
    return f"plan-{project}-{rows}-{digest[:7]}"


def log_extras(
    client: Any, uri: str, ref: Any, e: Economics, table: Any, scores: str, digest: str
) -> None:
    """A new plan run's scores as its input dataset (location, digest, rows: the runs list's
    Dataset column) and ``plan_report.html`` with its pictures (economics.plan_report)."""
    import json
    from pathlib import Path

    from mlflow.entities import Dataset, InputTag

    kind = "uc_table" if "." in scores and "/" not in scores else "path"
    dataset = Dataset(
        name=Path(scores.rstrip("/")).name or "scores",
        digest=digest[:12],
        source_type=kind,
        source=json.dumps({"uri": scores}),
        profile=json.dumps({"num_rows": e.rows}),
    )
    tag = InputTag(key="mlflow.data.context", value="scores")
    try:
        _log(client, uri, ref, e, table, dataset, tag)
    except BaseException as exc:
        fail_run(client, ref, exc)
        raise


def _log(client: Any, uri: str, ref: Any, e: Economics, table: Any, dataset: Any, tag: Any) -> None:
    import tempfile
    from pathlib import Path

    from mlflow.entities import DatasetInput

    _call(
        uri,
        "logging the scores as input",
        lambda: client.log_inputs(ref.run_id, datasets=[DatasetInput(dataset=dataset, tags=[tag])]),
    )
    with tempfile.TemporaryDirectory(prefix="plan-report-") as tmp:
        (Path(tmp) / "plan_report.html").write_text(plan_report_html(e, table), encoding="utf-8")
        _call(
            uri,
            "uploading plan_report.html",
            lambda: client.log_artifact(ref.run_id, str(Path(tmp) / "plan_report.html")),
        )
