"""The gate's part of the chain (``tracking.chain``): the alignment run lists the gated version
with its verdict (and keeps ``alignment.gated_models``), the version links back to its alignment
run and the judged run, and a version re-gated against another alignment leaves the old one's
list. Writes compare first, so the same gate again writes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from alignment_mlflow.gating import verdict as vd
from alignment_mlflow.tagkeys import LEGACY_GATED_MODELS
from alignment_mlflow.tracking import chain, chain_io
from alignment_mlflow.tracking.uris import run_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from alignment_mlflow.gating.alignment import AlignmentCheck


def record_gate(
    client: MlflowClient,
    uri: str,
    *,
    subject: Any,
    versions: Sequence[Any],
    verdict: str,
    checked: AlignmentCheck,
    alignment: Mapping[str, Any],
    align_id: str,
    align_url: str | None,
    measured: str = "",
) -> tuple[list[str], list[str]]:
    base = chain_io.base_url(uri)
    ref = subject.version_ref or f"runs:/{subject.run_id}"
    run_exp = str(subject.run.info.experiment_id)
    run_page = chain.run_link(run_exp, subject.run_id, run_url(uri, run_exp, subject.run_id))
    if subject.version is not None:
        url = chain.version_link(subject.version.name, str(subject.version.version), base)
    else:
        url = run_page
    entry = chain.entry(ref, ref, url, verdict)

    def gated(tags: Mapping[str, str]) -> str:
        return vd.gated_models(
            tags.get(vd.GATED_MODELS_TAG, tags.get(LEGACY_GATED_MODELS)), ref, verdict
        )

    writes, notes = chain_io.record(
        client, uri, align_id, "models", entry, {vd.GATED_MODELS_TAG: gated}
    )
    record = alignment.get("mlflow") if isinstance(alignment.get("mlflow"), Mapping) else {}
    align_exp = str(record.get("experiment_id", "")) if isinstance(record, Mapping) else ""
    align_page = chain.run_link(align_exp, align_id, align_url)
    for v in versions:
        before = dict(v.tags or {}).get("alignment_run_id")
        version_ref = f"models:/{v.name}/{v.version}"
        if before and before != align_id:
            writes += chain_io.forget(client, uri, before, "models", version_ref)
        part = chain.version_section(
            f"alignment run {align_id[:8]}",
            align_page,
            run_page,
            verdict,
            checked.recorded,
            measured,
        )
        writes += chain_io.describe_version(client, uri, v, part)
    return writes, notes
