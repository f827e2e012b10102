"""Writing the chain (``tracking.chain``): the alignment run's record and description section, a
model version's links back. Compare first: a rerun reads and writes nothing new. A missing or
unreadable alignment run is a note, never an error (the gate or plan has already been judged)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alignment_mlflow.errors import TrackingError
from alignment_mlflow.redact import redact_text, redact_uri
from alignment_mlflow.tagkeys import GATED_MODELS, LEGACY_CHAIN, LEGACY_GATED_MODELS
from alignment_mlflow.tracking import chain, runs, uris

if TYPE_CHECKING:
    from mlflow import MlflowClient

NOTE_TAG = "mlflow.note.content"
MAX_TAG_VALUE = 8000
LEGACY_MOVES = {LEGACY_CHAIN: chain.CHAIN_TAG, LEGACY_GATED_MODELS: GATED_MODELS}


def chain_text(tags: Mapping[str, str]) -> str | None:
    """The run's chain record, also from a run the previous release wrote (moved on write)."""
    return tags.get(chain.CHAIN_TAG, tags.get(LEGACY_CHAIN))


def base_url(uri: str) -> str | None:
    """The tracking server's address for absolute links (http(s) only; credentials removed)."""
    clean = redact_uri(uri)
    return clean.rstrip("/") if clean.startswith(("http://", "https://")) else None


def record(
    client: MlflowClient,
    uri: str,
    alignment_run_id: str,
    kind: str,
    entry: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[str]]:
    """Put ``entry`` first in the alignment run's chain and description section, with ``extra``
    tags (a function of the run's current tags, e.g. the gated-models record) in the same
    request. Returns (writes, notes)."""
    try:
        run = client.get_run(alignment_run_id)
    except Exception as exc:
        return [], [redact_text(f"alignment run {alignment_run_id} not readable in {uri}: {exc}")]
    tags: Mapping[str, str] = run.data.tags
    new_chain = chain.add(chain_text(tags), kind, entry)
    wanted = {chain.CHAIN_TAG: new_chain, **_described(tags, new_chain)}
    for key, fn in (extra or {}).items():
        wanted[key] = fn(tags) if callable(fn) else str(fn)
    return _write(client, uri, alignment_run_id, tags, wanted, f"{kind} of alignment run"), []


def forget(client: MlflowClient, uri: str, alignment_run_id: str, kind: str, ref: str) -> list[str]:
    """Take ``ref`` off an alignment run's chain (a version re-gated against another one)."""
    try:
        run = client.get_run(alignment_run_id)
    except Exception:
        return []
    tags: Mapping[str, str] = run.data.tags
    text = chain_text(tags)
    if text is None:
        return []
    new_chain = chain.remove(text, kind, ref)
    wanted = {chain.CHAIN_TAG: new_chain, **_described(tags, new_chain)}
    return _write(client, uri, alignment_run_id, tags, wanted, f"moved {ref} off alignment run")


def _described(tags: Mapping[str, str], new_chain: str) -> dict[str, str]:
    current = tags.get(NOTE_TAG, "")
    return {NOTE_TAG: chain.splice(current, chain.section(new_chain))}


def _write(
    client: MlflowClient,
    uri: str,
    run_id: str,
    tags: Mapping[str, str],
    wanted: Mapping[str, str],
    what: str,
) -> list[str]:
    from mlflow.entities import RunTag

    pending = {k: v[:MAX_TAG_VALUE] for k, v in wanted.items() if tags.get(k) != v}
    # A run the previous release wrote: its chain record and gated-models list move out of view.
    moved = [old for old in LEGACY_MOVES if old in tags and old not in wanted]
    for old in moved:
        new = LEGACY_MOVES[old]
        if new not in wanted and new not in tags:
            pending[new] = tags[old][:MAX_TAG_VALUE]
    if not pending and not moved:
        return []
    try:
        if pending:
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in pending.items()])
        for key in moved:
            client.delete_tag(run_id, key)
    except Exception as exc:
        raise TrackingError(
            redact_text(f"MLflow tracking at {uri}: recording the chain on {run_id} failed: {exc}")
        ) from exc
    return [f"{len(pending)} chain tags on {what} {run_id}"]


def describe_version(client: MlflowClient, uri: str, version: Any, part: str) -> list[str]:
    """The version's description with our section last (the user's text above it is kept)."""
    current = str(getattr(version, "description", None) or "")
    wanted = chain.splice(current, part, chain.VERSION_SECTION)
    if wanted == current:
        return []
    get = getattr(client, "_get_registry_client", None)
    registry = get() if callable(get) else client
    ref = f"models:/{version.name}/{version.version}"
    try:
        registry.update_model_version(version.name, version.version, description=wanted)
    except Exception as exc:
        raise TrackingError(
            redact_text(f"MLflow registry at {uri}: describing {ref} failed: {exc}")
        ) from exc
    return [f"description of {ref}"]


def describe_experiment(
    client: MlflowClient,
    uri: str,
    experiment_id: str,
    *,
    project: str,
    objective: str,
    dataset: str,
    status: str,
    run_id: str,
) -> list[str]:
    """The experiment's description: the project and the latest verdict per dataset."""
    exp = client.get_experiment(experiment_id)
    tags: Mapping[str, str] = exp.tags or {}
    url = chain.run_link(experiment_id, run_id, uris.run_url(uri, experiment_id, run_id))
    record = chain.experiment_record(tags.get(chain.LATEST_TAG), dataset, status, run_id, url)
    wanted = {
        chain.LATEST_TAG: record,
        NOTE_TAG: chain.experiment_description(project, objective, record)[:MAX_TAG_VALUE],
    }
    done = []
    for key, value in wanted.items():
        if tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
            done.append(key)
    return [f"{len(done)} tags on experiment {experiment_id}"] if done else []


def finish_alignment_run(
    client: MlflowClient, ref: Any, tags: dict[str, str], report_html: str, ctx: Any
) -> None:
    """Finish the alignment run (``runs.finish_run``) keeping the chain section a reused run
    already shows, then bring the experiment's description up to date. The experiment summary
    never fails an alignment whose findings are already written: a failure there is left for
    the next run to repair."""
    import contextlib

    kept = chain.section(chain_text(ref.existing_tags))
    tags[NOTE_TAG] = chain.splice(tags[NOTE_TAG], kept)
    runs.finish_run(client, ref, tags=tags, report_html=report_html)
    with contextlib.suppress(Exception):
        describe_experiment(
            client,
            ref.tracking_uri,
            ref.experiment_id,
            project=ctx.spec.business_context.project_name,
            objective=ctx.spec.business_context.business_objective,
            dataset=ctx.findings.dataset_name,
            status=ctx.status,
            run_id=ref.run_id,
        )
