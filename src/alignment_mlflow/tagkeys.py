"""Which run tags a reader sees, and where the bookkeeping goes. Pure: no I/O.

The MLflow UI's run page (its Tags panel), the runs list's tag columns and the compare view show
every tag except MLflow's own: ``isUserFacingTag`` in ``mlflow/server/js/src/common/utils/
TagUtils.ts`` hides keys starting with ``mlflow.`` (MLflow 2.21.3's bundled UI) and, from later
releases on, also ``_mlflow_``. Only ``mlflow.`` is hidden by every UI we support, so what only
our code reads (fingerprints, digests, owner and lease, the chain record, paths) is written under
``mlflow.alignment.``: still a tag, so ``search_runs`` filters on it (``tags.`mlflow.alignment.
fingerprint` = '...'``) on sqlite, a tracking server and Databricks alike, and still mutable (the
lease protocol and the chain record rewrite theirs), which params are not.

A reader sees a few short keys (at most :data:`MAX_VISIBLE_KEY` characters, so a runs-list
column shows them whole): the status or verdict, the reasons in one tag, the dataset, the link
back. Keys the previous release wrote and no run writes now are :data:`LEGACY`: a writer that
touches a run written by that release removes them, so no stale value stays in view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

HIDDEN = "mlflow.alignment."
UI_HIDDEN_PREFIXES = ("mlflow.", "_mlflow_")  # TagUtils.ts isUserFacingTag (3.x adds _mlflow_)
MAX_VISIBLE_KEY = 24
# The link back to the alignment run, on a plan run, an outcome run and a gated model's run.
ALIGNMENT_RUN = "alignment.run"


def hidden(name: str) -> str:
    """The key of a bookkeeping tag: kept on the run, out of the reader's way."""
    return HIDDEN + name


def visible(key: str) -> bool:
    """Whether the MLflow UI shows this run tag (the rule of ``isUserFacingTag``)."""
    return not key.startswith(UI_HIDDEN_PREFIXES)


def reader_keys(tags: Iterable[str]) -> list[str]:
    """The keys of ``tags`` the Tags panel shows, sorted."""
    return sorted(k for k in tags if visible(k))


# Run tags the previous release wrote in view (alignment, plan, outcome runs, the gated model's
# run) that are now hidden, renamed or not written at all. Per-name families are prefixes.
LEGACY = frozenset(
    {
        "alignment.project", "alignment.project_name", "alignment.findings_path",
        "alignment.findings_sha256", "alignment.spec_sha256", "alignment.package_version",
        "alignment.fingerprint", "alignment.verdict_sha256", "alignment.constraints_failed",
        "alignment.constraints_unverifiable", "alignment.warnings", "alignment.delta_table",
        "alignment.delta_version", "alignment.findings_updated", "alignment.owner",
        "alignment.lease_seconds", "alignment.chain", "alignment.gated_models",
        "alignment.kind", "alignment.alignment_run_id", "alignment.alignment_run_url",
        "alignment.verdict_digest",
    }
)  # fmt: skip
LEGACY_PREFIXES = ("alignment.constraint.", "alignment.verdict.", "alignment.measured.")


def legacy_keys(existing: Mapping[str, str], wanted: Iterable[str] = ()) -> list[str]:
    """Keys of ``existing`` that only the previous release wrote (and ``wanted`` does not):
    what a writer deletes so an old run shows only what is current."""
    keep = set(wanted)
    return sorted(
        k for k in existing if k not in keep and (k in LEGACY or k.startswith(LEGACY_PREFIXES))
    )
