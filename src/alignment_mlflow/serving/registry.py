"""The serving room's MLflow I/O: read the inner version and copy it locally, find a wrapper
already registered from the same inputs, build the wrapper (models-from-code) and register it.

Every client comes from ``tracking/client.make_client`` and every call goes through
``tracking/client.call``: a name that is not there is the user's input (exit 2), anything else the
tracking system's (exit 1). The wrapper is logged with the client and explicit run ids (never the
fluent active run): an ``MlflowClient`` run holds its files and the version points at them, which
MLflow 2.21 and 3.x register alike.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignment_mlflow.errors import InvalidInputError, TrackingError
from alignment_mlflow.serving import core
from alignment_mlflow.tracking.client import call

if TYPE_CHECKING:
    from mlflow import MlflowClient

MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE = Path(__file__).parent.parent
#: The served model's own Python needs: our package is shipped beside it (``code_paths``).
BASE_REQUIREMENTS = ("numpy", "pandas")
_READY_TIMEOUT_S = 600.0


def registry_uri(client: MlflowClient, uri: str) -> str:
    return str(getattr(client, "_registry_uri", None) or uri)


def read_version(client: MlflowClient, uri: str, name: str, number: str) -> Any:
    where = registry_uri(client, uri)
    ref = f"models:/{name}/{number}"
    return call(
        where,
        f"reading {ref}",
        lambda: client.get_model_version(name, number),
        missing=f"no registered model version {ref} in the registry at {where}",
    )


def download(client: MlflowClient, uri: str, version: Any, dst: Path) -> Path:
    """A local copy of the version's model files (its MLmodel at the top)."""
    import mlflow.artifacts

    ref = f"models:/{version.name}/{version.version}"
    where = registry_uri(client, uri)
    source = call(
        where,
        f"locating the files of {ref}",
        lambda: client.get_model_version_download_uri(version.name, version.version),
    )
    dst.mkdir(parents=True, exist_ok=True)
    local = call(
        uri,
        f"downloading {ref}",
        lambda: mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(dst), tracking_uri=uri
        ),
    )
    path = Path(local)
    if not (path / "MLmodel").is_file():
        raise InvalidInputError(f"{ref} is not an MLflow model (no MLmodel file in {source})")
    return path


def versions(client: MlflowClient, uri: str, name: str) -> list[Any]:
    """The versions of ``name`` (none when the model does not exist yet)."""
    where = registry_uri(client, uri)
    escaped = name.replace("'", "\\'")

    def search() -> list[Any]:
        try:
            return list(client.search_model_versions(f"name = '{escaped}'"))
        except Exception as exc:  # Unity Catalog: an absent model is an error, not no versions
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise

    return call(where, f"listing the versions of {name}", search)


def experiment_of(client: MlflowClient, uri: str, version: Any) -> str:
    """The wrapper is logged beside the inner model: its run's (or logged model's) experiment."""
    if version.run_id:
        run = call(uri, f"reading run {version.run_id}", lambda: client.get_run(version.run_id))
        return str(run.info.experiment_id)
    model_id = getattr(version, "model_id", None)
    get_logged_model = getattr(client, "get_logged_model", None)
    if model_id and get_logged_model is not None:
        lm = call(uri, f"reading logged model {model_id}", lambda: get_logged_model(model_id))
        return str(lm.experiment_id)
    raise InvalidInputError(
        f"models:/{version.name}/{version.version} has no source run or logged model: there is "
        "no experiment to log the wrapper in"
    )


def _signature(inner_dir: Path) -> Any:
    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema

    inner = Model.load(str(inner_dir / "MLmodel")).signature
    outputs = Schema([ColSpec(kind, name) for name, kind in core.OUTPUT_COLUMNS])
    return ModelSignature(inputs=inner.inputs if inner is not None else None, outputs=outputs)


def _requirements(inner_dir: Path, out: Path) -> Path:
    """The inner model's requirements (it runs inside the wrapper) and ours: given explicitly,
    so MLflow does not infer them (which loads the model in a subprocess, seconds per call)."""
    listed = inner_dir / "requirements.txt"
    lines = listed.read_text(encoding="utf-8").splitlines() if listed.is_file() else []
    names = {ln.split("=")[0].split("<")[0].split(">")[0].strip().lower() for ln in lines}
    lines += [r for r in BASE_REQUIREMENTS if r not in names]
    if not any(n.startswith("mlflow") for n in names):
        import mlflow

        lines.append(f"mlflow=={mlflow.__version__}")
    out.write_text("\n".join(ln for ln in lines if ln.strip()) + "\n", encoding="utf-8")
    return out


def build(inner_dir: Path, config: dict[str, Any], work: Path) -> Path:
    """The wrapper's model folder: the code file, the inner copy and the band table as
    artifacts, our package as code (so the served model needs no index to install it from)."""
    import mlflow.pyfunc

    work.mkdir(parents=True, exist_ok=True)
    tiers = work / "tiers.json"
    tiers.write_text(json.dumps(config, sort_keys=True), encoding="utf-8")
    package = work / "code" / PACKAGE.name
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = work / "model"
    with warnings.catch_warnings():
        # MLflow asks for type hints and an input example: the signature is given explicitly.
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.save_model(
            str(out),
            python_model=str(MODEL_CODE),
            artifacts={"inner": str(inner_dir), "tiers": str(tiers)},
            code_paths=[str(package)],
            signature=_signature(inner_dir),
            pip_requirements=str(_requirements(inner_dir, work / "requirements.txt")),
        )
    return out


def register(
    client: MlflowClient,
    uri: str,
    *,
    experiment_id: str,
    model_dir: Path,
    name: str,
    tags: dict[str, str],
    run_name: str,
    run_tags: dict[str, str] | None = None,
) -> Any:
    """Log the folder in a run of its own, then register it as a new version of ``name``."""
    run = call(
        uri,
        "creating the wrapper's run",
        lambda: client.create_run(experiment_id, run_name=run_name, tags=dict(run_tags or tags)),
    )
    run_id = run.info.run_id
    try:
        call(
            uri,
            "uploading the wrapper",
            lambda: client.log_artifacts(run_id, str(model_dir), "model"),
        )
    except BaseException:
        call(uri, "closing the wrapper's run", lambda: client.set_terminated(run_id, "FAILED"))
        raise
    call(uri, "closing the wrapper's run", lambda: client.set_terminated(run_id))
    where = registry_uri(client, uri)
    call(where, f"creating registered model {name}", lambda: _create_model(client, name))
    source = f"{run.info.artifact_uri.rstrip('/')}/model"
    version = call(
        where,
        f"registering a version of {name}",
        lambda: client.create_model_version(name, source, run_id=run_id, tags=tags),
    )
    return _ready(client, where, version)


def _create_model(client: MlflowClient, name: str) -> None:
    """Created when absent; another process creating it meanwhile is fine."""
    try:
        client.create_registered_model(name)
    except Exception as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise


def _ready(client: MlflowClient, where: str, version: Any) -> Any:
    """Unity Catalog registers asynchronously: wait until the version is ready (or failed)."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while str(getattr(version, "status", "READY")) == "PENDING_REGISTRATION":
        if time.monotonic() > deadline:
            raise TrackingError(f"{version.name} version {version.version} still pending")
        time.sleep(1.0)
        version = call(
            where,
            "waiting for the version",
            lambda v=version: client.get_model_version(v.name, v.version),  # type: ignore[misc]
        )
    if str(getattr(version, "status", "READY")) == "FAILED_REGISTRATION":
        raise TrackingError(f"registering {version.name} version {version.version} failed")
    return version
