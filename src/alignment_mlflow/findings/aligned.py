"""A spec, or the alignment an aligned findings file carries: what the gate and the plan judge.

An aligned findings file stores the spec exactly as it was aligned (``metadata.alignment.
spec_source``), so ``--spec path/to/x_findings.yaml`` judges against what was aligned, not against
a spec file that may have moved on since. The sha256 is checked: a findings file whose stored spec
does not hash to its recorded ``spec_sha256`` was edited by hand and is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alignment_mlflow.boundedio import FileTooLargeError, NotARegularFileError, read_bounded
from alignment_mlflow.errors import FindingsError, InvalidInputError, StorageError
from alignment_mlflow.findings.document import FINDINGS_SUFFIX, MAX_FINDINGS_BYTES, parse_findings
from alignment_mlflow.findings.storage import LocalStore, store_for
from alignment_mlflow.spec import (
    AlignmentSpec,
    build_spec,
    load_spec,
    render_spec_yaml,
    spec_from_text,
)
from alignment_mlflow.spec.loader import MAX_SPEC_BYTES


@dataclass(frozen=True)
class SpecSource:
    """A validated spec and, when it came from aligned findings, that alignment's record
    (``metadata.alignment``: its MLflow run, Delta table, ...)."""

    spec: AlignmentSpec
    location: str
    alignment: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""  # the spec as the user wrote it (rendered from its sections for a dict)

    @property
    def spec_text(self) -> str:
        return self.text or render_spec_yaml(self.spec)

    @property
    def from_findings(self) -> bool:
        return bool(self.alignment)


def spec_from_alignment(alignment: Mapping[str, Any], location: str) -> AlignmentSpec:
    """The spec stored under ``metadata.alignment`` of an aligned findings file."""
    source = alignment.get("spec_source")
    if not isinstance(source, Mapping):
        raise FindingsError(
            f"{location}: metadata.alignment has no spec_source (aligned by an older version of "
            "alignment-mlflow); rerun `alignment-mlflow run` on it, or pass the spec file"
        )
    spec = build_spec(source, source=f"{location} (metadata.alignment.spec_source)")
    recorded = alignment.get("spec_sha256")
    if recorded and recorded != spec.sha256:
        raise FindingsError(
            f"{location}: metadata.alignment.spec_source hashes to {spec.sha256[:12]} but "
            f"spec_sha256 says {str(recorded)[:12]}; the block was edited by hand: rerun "
            "`alignment-mlflow run` or pass the spec file"
        )
    return spec


def spec_and_alignment(
    spec: AlignmentSpec | str | os.PathLike[str] | Mapping[str, Any], *, profile: str | None = None
) -> tuple[AlignmentSpec, Mapping[str, Any]]:
    """The spec and, when it came from an aligned findings file, that file's alignment record
    (the run it links to); a spec given as an object has none."""
    if isinstance(spec, AlignmentSpec):
        return spec, {}
    src = load_spec_source(spec, profile=profile)
    return src.spec, src.alignment


def recorded_tracking_uri(alignment: Mapping[str, Any]) -> str | None:
    """The tracking URI aligned findings recorded their run in (metadata.alignment.mlflow), for
    the runs that follow (plan, outcomes) to go to the same store wherever they are run from. A
    URI whose credentials were removed (``***``) cannot be used as it is: None, and the
    environment's applies."""
    recorded = alignment.get("mlflow") or {}
    uri = recorded.get("tracking_uri")
    return None if not isinstance(uri, str) or "***" in uri else uri


def load_spec_source(
    location: str | os.PathLike[str] | Mapping[str, Any],
    *,
    profile: str | None = None,
    client: Any = None,
) -> SpecSource:
    """A spec file (YAML/JSON, local, ``dbfs:/``, ``/Volumes/``), a notebook dict, or an aligned
    findings file (``*_findings.yaml`` with ``metadata.alignment``)."""
    if isinstance(location, Mapping):
        return SpecSource(load_spec(location), "dict spec")
    where = os.fspath(location)
    store, path = store_for(where, profile=profile, client=client)
    if isinstance(store, LocalStore) and not where.endswith(FINDINGS_SUFFIX):
        spec = load_spec(path)  # size, type and line checks of the file loader
        text = read_bounded(path, MAX_SPEC_BYTES).decode("utf-8")
        return SpecSource(spec, where, text=text)
    try:
        limit = MAX_FINDINGS_BYTES if where.endswith(FINDINGS_SUFFIX) else MAX_SPEC_BYTES
        data = store.read_bytes(path, max_bytes=limit)
    except FileTooLargeError as exc:
        raise InvalidInputError(f"spec {where}: {exc.strerror}; is this the right file?") from exc
    except NotARegularFileError as exc:
        raise InvalidInputError(f"spec {where} {exc.strerror}; pass a spec file") from exc
    except FileNotFoundError as exc:
        raise InvalidInputError(f"spec file not found: {where}") from exc
    except IsADirectoryError as exc:
        raise InvalidInputError(f"spec {where} is a folder; pass a spec file") from exc
    except PermissionError as exc:
        raise InvalidInputError(f"spec {where}: permission denied") from exc
    except OSError as exc:
        raise StorageError(f"could not read spec {where}: {exc}") from exc
    if not where.endswith(FINDINGS_SUFFIX):
        return SpecSource(spec_from_text(data, source=where), where, text=data.decode("utf-8"))
    doc = parse_findings(data, where)
    meta = doc.data.get("metadata")
    alignment = meta.get("alignment") if isinstance(meta, Mapping) else None
    if not isinstance(alignment, Mapping):
        raise FindingsError(
            f"{where} is a findings file with no metadata.alignment: align it first "
            "(`alignment-mlflow run --findings ... --spec ...`) or pass the spec file"
        )
    return SpecSource(spec_from_alignment(alignment, where), where, alignment)
