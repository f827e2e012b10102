"""The gate's MLflow I/O: read a model run or version and its metrics; record the verdict
compare-first, so a rerun of the same gate writes nothing.

Everything goes through a passed-in ``MlflowClient`` with explicit ids (never the fluent active
run). Reads that name something that does not exist are the user's input (exit 2); any other
failure is the tracking system's (exit 1).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.gating import verdict as vd
from alignment_mlflow.redact import redact_text
from alignment_mlflow.tracking import client as client_mod

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)
MAX_TAG_VALUE = 5000  # under every registry's limit (MLflow 8000, workspace registry 5000)


make_client = client_mod.make_client
_call = client_mod.call


@dataclass(frozen=True)
class Subject:
    """The model being judged: its run, its metrics and (when given) its registered version."""

    run: Any  # mlflow.entities.Run
    metrics: dict[str, float]
    version: Any = None  # mlflow.entities.model_registry.ModelVersion
    version_ref: str | None = None  # models:/NAME/VERSION
    sources: tuple[str, ...] = ()  # "run abc123", "logged model m-..."

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)


def read_run(client: MlflowClient, uri: str, run_id: str) -> Any:
    run = _call(
        uri,
        f"reading run {run_id}",
        lambda: client.get_run(run_id),
        missing=f"no run {run_id!r} in {uri}: pass the model's run id (--model-run) or "
        "--model-version models:/NAME/VERSION",
    )
    if run.info.lifecycle_stage == "deleted":
        raise InvalidInputError(f"run {run_id} in {uri} is deleted; restore it or gate another")
    return run


def _latest(metrics: list[Any]) -> dict[str, float]:
    """Per key, the value with the highest (step, timestamp): what ``run.data.metrics`` means."""
    best: dict[str, tuple[int, int, float]] = {}
    for m in metrics:
        rank = (int(m.step or 0), int(m.timestamp or 0), float(m.value))
        if m.key not in best or rank[:2] >= best[m.key][:2]:
            best[m.key] = rank
    return {k: v[2] for k, v in best.items()}


def _logged_model_id(source: str | None) -> str | None:
    """MLflow 3 registers a logged model with source ``models:/m-<id>`` (and the registry does
    not always fill ``model_id``)."""
    m = re.fullmatch(r"models:/(m-[0-9a-f]+)", source or "")
    return m.group(1) if m else None


def read_subject(
    client: MlflowClient, uri: str, *, model_run: str | None, model_version: tuple[str, str] | None
) -> Subject:
    if model_version is None:
        assert model_run is not None
        run = read_run(client, uri, model_run)
        return Subject(run, dict(run.data.metrics), sources=(f"run {model_run}",))
    name, number = model_version
    ref = f"models:/{name}/{number}"
    registry = getattr(client, "_registry_uri", None) or uri
    version = _call(
        registry,
        f"reading {ref}",
        lambda: client.get_model_version(name, number),
        missing=f"no registered model version {ref} in the registry at {registry}",
    )
    logged: dict[str, float] = {}
    sources: list[str] = []
    run_id = version.run_id
    model_id = getattr(version, "model_id", None) or _logged_model_id(version.source)
    get_logged_model = getattr(client, "get_logged_model", None)
    if model_id and get_logged_model is not None:
        lm = _call(uri, f"reading logged model {model_id}", lambda: get_logged_model(model_id))
        logged = _latest(list(lm.metrics or []))
        run_id = run_id or lm.source_run_id
        sources.append(f"logged model {model_id}")
    elif model_id:
        # MLflow 2.21/2.22 (16.4 LTS ML, serverless environment 4) have no logged models: a
        # version MLflow 3 registered is judged on its run's metrics.
        log.warning(
            "%s comes from logged model %s, which this MLflow cannot read; judging run %s",
            f"models:/{name}/{number}",
            model_id,
            run_id,
        )
    if not run_id:
        raise InvalidInputError(f"{ref} has no source run: there is no run to judge or tag")
    run = read_run(client, uri, run_id)
    sources.insert(0, f"run {run_id}")
    # The logged model's own metrics are the most specific: they win over the run's.
    return Subject(run, {**run.data.metrics, **logged}, version, ref, tuple(sources))


def versions_of_run(client: MlflowClient, uri: str, run_id: str) -> list[Any]:
    return list(
        _call(
            uri,
            f"finding versions registered from run {run_id}",
            lambda: client.search_model_versions(f"run_id = '{run_id}'", max_results=100),
        )
    )


# --------------------------------------------------------------------------- compare-first writes


def _upload_table(client: MlflowClient, uri: str, run: Any, table: Mapping[str, Any]) -> None:
    folder, _, name = vd.TABLE_PATH.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="alignment-gate-") as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(table, default=str), encoding="utf-8")
        try:  # the run's own artifact repository: no extra get-run round trip
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        except ImportError:  # pragma: no cover - other MLflow layouts
            client.log_artifact(run.info.run_id, str(path), folder)
            return
        try:
            repo = get_artifact_repository(run.info.artifact_uri, tracking_uri=uri)
        except TypeError:  # MLflow 2.21/2.22: no tracking_uri here; the client resolves it
            client.log_artifact(run.info.run_id, str(path), folder)
            return
        repo.log_artifact(str(path), folder)


def write_run(
    client: MlflowClient, uri: str, run: Any, v: vd.GateVerdict, wanted: Mapping[str, str]
) -> list[str]:
    """Tags (and the table when it changed) on the model run; nothing when all are in place."""
    from mlflow.entities import RunTag

    run_id = run.info.run_id
    existing: Mapping[str, str] = run.data.tags
    pending = {k: val[:MAX_TAG_VALUE] for k, val in wanted.items() if existing.get(k) != val}
    stale = vd.stale_run_tags(existing, wanted)
    done: list[str] = []
    if vd.DIGEST_TAG in pending:  # the table changed (or was never written): upload it first
        _call(
            uri, "uploading the verdict table", lambda: _upload_table(client, uri, run, v.table())
        )
        done.append(f"artifact {vd.TABLE_PATH}")
        listed = vd.logged_artifacts(existing.get("mlflow.loggedArtifacts"))
        if listed is not None:
            pending["mlflow.loggedArtifacts"] = listed
    for key in stale:
        _call(uri, f"deleting stale tag {key}", lambda k=key: client.delete_tag(run_id, k))  # type: ignore[misc]
    if pending:
        # The digest goes last so an interrupted write is redone by the rerun.
        order = sorted(pending, key=lambda k: k == vd.DIGEST_TAG)
        batch = [RunTag(k, pending[k]) for k in order]
        _call(uri, f"tagging run {run_id}", lambda: client.log_batch(run_id, tags=batch))
        done.append(f"{len(batch)} tags on run {run_id}")
    if stale:
        done.append(f"removed {len(stale)} stale verdict tags")
    return done


def _registry(client: MlflowClient) -> Any:
    """The registry client under ``MlflowClient``: its public tag and alias setters first read
    the registered model (a prompt check) on every call, which would double the requests for a
    version we have just read. Falls back to the public client on other MLflow layouts."""
    get = getattr(client, "_get_registry_client", None)
    return get() if callable(get) else client


def write_version(
    client: MlflowClient, uri: str, version: Any, wanted: Mapping[str, str]
) -> list[str]:
    existing = dict(version.tags or {})
    pending = {k: val for k, val in wanted.items() if existing.get(k) != val}
    ref = f"models:/{version.name}/{version.version}"
    for key, value in pending.items():
        _call(
            uri,
            f"tagging {ref}",
            lambda k=key, val=value: _registry(client).set_model_version_tag(  # type: ignore[misc]
                version.name, version.version, k, val
            ),
        )
    done = [f"{len(pending)} tags on {ref}"] if pending else []
    # A verdict judged without the endpoint must not sit beside an earlier endpoint measurement.
    if vd.MEASURED_VERSION_TAG in existing and vd.MEASURED_VERSION_TAG not in wanted:
        _call(
            uri,
            f"removing a stale measurement tag from {ref}",
            lambda: _registry(client).delete_model_version_tag(
                version.name, version.version, vd.MEASURED_VERSION_TAG
            ),
        )
        done.append(f"removed stale {vd.MEASURED_VERSION_TAG} from {ref}")
    return done


def set_alias(client: MlflowClient, uri: str, version: Any, alias: str) -> list[str]:
    if alias in (version.aliases or []):
        return []
    _call(
        uri,
        f"setting alias {alias}",
        lambda: _registry(client).set_registered_model_alias(version.name, alias, version.version),
    )
    return [f"alias {alias} -> models:/{version.name}/{version.version}"]


def record_on_alignment_run(
    client: MlflowClient, uri: str, alignment_run_id: str, ref: str, verdict: str
) -> tuple[list[str], list[str]]:
    """Add ``ref: verdict`` to the alignment run's bounded ``alignment.gated_models`` tag.
    Returns (writes, notes); a missing alignment run is a note, not an error."""
    try:
        run = client.get_run(alignment_run_id)
    except Exception as exc:
        note = f"alignment run {alignment_run_id} not readable in {uri}: {exc}"
        return [], [redact_text(note)[:300]]
    current = run.data.tags.get(vd.GATED_MODELS_TAG)
    wanted = vd.gated_models(current, ref, verdict)
    if wanted == current:
        return [], []
    _call(
        uri,
        "recording the gate on the alignment run",
        lambda: client.set_tag(alignment_run_id, vd.GATED_MODELS_TAG, wanted),
    )
    return [f"{ref} in {vd.GATED_MODELS_TAG} of alignment run {alignment_run_id}"], []
