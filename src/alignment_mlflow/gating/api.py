"""``gate()``: judge a model against the alignment and record the verdict where engineers look.

Order matters: the spec, the arguments, the model, its metrics and the verdict are all read and
checked before the first write, so bad input (exit 2) leaves every store untouched. Writes then go
run -> version -> alias -> alignment run, each compare-first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.gating import verdict as vd
from alignment_mlflow.gating.alignment import RUN_TAG as AL_RUN_TAG
from alignment_mlflow.gating.alignment import check_alignment
from alignment_mlflow.gating.alignment import version_tags as alignment_version_tags
from alignment_mlflow.gating.endpoint import DEFAULT_WINDOW, parse_window
from alignment_mlflow.gating.measured import endpoint_metrics, judge_endpoint
from alignment_mlflow.gating.parsing import (
    MetricKey,
    check_alias,
    parse_metric_key,
    parse_metric_option,
    parse_model_version,
)
from alignment_mlflow.gating.result import GateResult
from alignment_mlflow.steps import Steps
from alignment_mlflow.tracking.client import with_bounded_requests

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from mlflow import MlflowClient


def _mappings(metrics: Mapping[str, str] | Sequence[str] | None) -> dict[str, MetricKey]:
    out: dict[str, MetricKey] = {}
    if metrics is None:
        return out
    pairs: list[tuple[str, MetricKey]]
    try:
        if isinstance(metrics, Mapping):
            pairs = [(str(k).strip(), parse_metric_key(str(v))) for k, v in metrics.items()]
        else:
            pairs = [parse_metric_option(str(m)) for m in metrics]
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    for slug, mk in pairs:
        if slug in out and out[slug] != mk:
            raise InvalidInputError(f"--metric {slug} is given twice ({out[slug]} and {mk})")
        out[slug] = mk
    return out


def _alignment_link(
    alignment: Mapping[str, Any], uri: str
) -> tuple[str | None, str | None, str | None]:
    """The alignment run an aligned findings file points at: (run id, url, why it is not
    tagged). It is tagged only when it lives on the tracking server we write to."""
    record = alignment.get("mlflow") if alignment else None
    if not isinstance(record, Mapping) or not record.get("run_id"):
        return None, None, None
    run_id, url = str(record["run_id"]), record.get("run_url")
    where = record.get("tracking_uri")
    remote = None
    if where and str(where) != uri:
        remote = f"alignment run {run_id} is tracked at {where}, not {uri}: linked, not tagged"
    return run_id, str(url) if url else None, remote


def _check_arguments(
    model_run: str | None, model_version: str | None, promote_alias: str | None
) -> tuple[tuple[str, str] | None, str | None]:
    """Exactly one subject, a well-formed version and alias: (version ref, alias)."""
    if (model_run is None) == (model_version is None):
        raise InvalidInputError("give exactly one of --model-run RUN_ID or --model-version URI")
    try:
        version_ref = parse_model_version(model_version) if model_version else None
        alias = check_alias(promote_alias) if promote_alias else None
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    if alias and version_ref is None:
        raise InvalidInputError(
            "--promote-alias needs --model-version models:/NAME/VERSION: an alias points at a "
            "registered version, not a run"
        )
    return version_ref, alias


def _check_endpoint(endpoint: str | None, window: str | None) -> str:
    """The window text, checked before anything is read."""
    if endpoint is None:
        if window is not None:
            raise InvalidInputError("--window applies to --endpoint NAME; give the endpoint too")
        return DEFAULT_WINDOW
    text = DEFAULT_WINDOW if window is None else window
    try:
        parse_window(text)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    return text.strip()


@with_bounded_requests
def gate(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    model_run: str | None = None,
    model_version: str | None = None,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    metrics: Mapping[str, str] | Sequence[str] | None = None,
    promote_alias: str | None = None,
    tag_versions: bool = False,
    dry_run: bool = False,
    profile: str | None = None,
    client: MlflowClient | None = None,
    allow_blocked_alignment: str | None = None,
    endpoint: str | None = None,
    window: str | None = None,
    workspace_client: WorkspaceClient | None = None,
) -> GateResult:
    """Judge a model run (or a registered version's source run and logged model) against the
    spec's success metrics; tag the run and version with the verdict; set ``promote_alias`` on the
    version only when the verdict is ``passed``.

    ``spec`` is a spec file or dict, or an aligned findings file (judged against exactly what was
    aligned, and the alignment run records the gate). ``metrics`` maps slugs to metric keys
    (``{"model_latency": "latency_p99:s"}`` or ``["model_latency=latency_p99:s"]``).
    ``tag_versions`` also tags the versions registered from ``model_run``.

    The alignment is part of the verdict (``gating.alignment``): an aligned findings file whose
    alignment is ``blocked`` makes the verdict ``failed`` (the alias is not moved) unless
    ``allow_blocked_alignment`` gives the reason to let it through, which is recorded.

    ``endpoint`` names a Databricks serving endpoint: the spec's serving latency targets (and
    ``deployment_requirements.real_time_latency``) are judged on its metrics export over
    ``window`` (default 24h; see ``gating.endpoint`` for what a window of a snapshot means)
    instead of on a value the model run logged; the window, sample count and export are recorded
    with the verdict. ``workspace_client`` is the ``WorkspaceClient`` to read it with (default:
    built from ``profile`` or the environment).
    """
    from alignment_mlflow.findings.aligned import load_spec_source
    from alignment_mlflow.gating import mlflow_io as io
    from alignment_mlflow.gating.links import record_gate
    from alignment_mlflow.tracking.uris import resolve_tracking_uri

    t0 = time.perf_counter()
    steps = Steps(None)
    with steps.step("spec"):
        version_ref, alias = _check_arguments(model_run, model_version, promote_alias)
        mappings = _mappings(metrics)
        window_text = _check_endpoint(endpoint, window)
        source = load_spec_source(spec, profile=profile)
        checked = check_alignment(source.alignment, source.location, allow_blocked_alignment)
        if endpoint is not None and not endpoint_metrics(source.spec):
            raise InvalidInputError(
                f"--endpoint {endpoint}: the spec has no serving latency target to judge on it; "
                "give a success metric with measured_on: serving and a time target (< 100ms p99) "
                "or deployment_requirements.real_time_latency"
            )

    with steps.step("read"):
        uri = resolve_tracking_uri(tracking_uri)
        client = client or io.make_client(uri, registry_uri)
        subject = io.read_subject(client, uri, model_run=model_run, model_version=version_ref)
        measured, meas = None, None
        if endpoint is not None:
            from alignment_mlflow.gating.endpoint_io import read_measurement

            meas = read_measurement(endpoint, window_text, profile=profile, client=workspace_client)
            measured = judge_endpoint(source.spec, meas)
        verdict = vd.judge(source.spec, subject.metrics, mappings, measured)
        if checked.blocks:
            verdict = replace(verdict, verdict="failed")
        versions = [subject.version] if subject.version is not None else []
        if tag_versions and model_run is not None:
            versions = io.versions_of_run(client, uri, subject.run_id)
        align_id, align_url, remote = _alignment_link(source.alignment, uri)
        notes = [remote] if remote else []
        notes += checked.notes()

    writes: list[str] = []
    alias_set = False
    if alias and subject.version is not None:
        already = alias in (subject.version.aliases or [])
        alias_set = verdict.verdict == "passed"
        if not alias_set:
            keep = " (it still points here from an earlier gate)" if already else ""
            notes.append(f"alias {alias} not set: the verdict is {verdict.verdict}{keep}")
    if dry_run:
        notes.append("dry run: nothing written")
        alias_set = False
    else:
        with steps.step("write"):
            run_tags = {
                AL_RUN_TAG: checked.recorded,
                **vd.run_tags(verdict, alignment_run_id=align_id, alignment_run_url=align_url),
            }
            writes += io.write_run(client, uri, subject.run, verdict, run_tags)
            wanted = vd.version_tags(verdict, alignment_run_id=align_id)
            for v in versions:
                mine = {**wanted, **alignment_version_tags(checked, dict(v.tags or {}))}
                writes += io.write_version(client, uri, v, mine)
            if alias_set and subject.version is not None and alias:
                writes += io.set_alias(client, uri, subject.version, alias)
            if align_id and not remote:
                done, more = record_gate(
                    client,
                    uri,
                    subject=subject,
                    versions=versions,
                    verdict=verdict.verdict,
                    checked=checked,
                    alignment=source.alignment,
                    align_id=align_id,
                    align_url=align_url,
                    measured=meas.text() if meas is not None else "",
                )
                writes += done
                notes += more
    timings = {**steps.timings, "total": time.perf_counter() - t0}
    return GateResult(
        verdict=verdict,
        run_id=subject.run_id,
        model_version=subject.version_ref,
        alias_set=alias_set,
        alignment_run_id=align_id,
        alignment_status=checked.recorded,
        writes=tuple(writes),
        notes=tuple(notes),
        timings=timings,
    )
